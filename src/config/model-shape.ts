/** The base model's sizes, shared by the preprocessing, both engines, the embedding cache, the heads and the export. */

/** Photos are scaled and cropped to IMAGE_SIZE × IMAGE_SIZE RGB (MobileNet V2 as Teachable Machine uses it). */
export const IMAGE_SIZE = 224;
export const INPUT_SHAPE = [IMAGE_SIZE, IMAGE_SIZE, 3] as const;
/** Floats in one embedding: the last feature map's channels, globally average-pooled. */
export const EMBEDDING_SIZE = 1280;
