/**
 * A published model's head read back from its files: what the next training needs to say how the model the till has
 * been running did on the scans confirmed since. Pure: bytes in, weights out.
 */
import { EMBEDDING_SIZE } from '../config/model-shape';
import type { PreviousModel } from '../training/till-scans';

interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
}

/**
 * The head of a model this service exported: the two Dense layers' weights in weights.bin (the only weights of rank 2:
 * the base model's kernels have rank 4), found through model.json's weight manifest; labels, trainingId and time from
 * metadata.json. Throws on files of another shape.
 */
export function headOfPublishedModel(files: {
  modelJson: Uint8Array;
  weightsFile: Uint8Array;
  metadata: Uint8Array;
}): PreviousModel {
  const model = JSON.parse(Buffer.from(files.modelJson).toString('utf8')) as {
    weightsManifest?: { weights?: ManifestWeight[] }[];
  };
  const metadata = JSON.parse(Buffer.from(files.metadata).toString('utf8')) as {
    labels?: unknown;
    trainingId?: unknown;
    timeStamp?: unknown;
  };
  const weights = (model.weightsManifest ?? []).flatMap((group) => group.weights ?? []);
  if (weights.some((w) => w.dtype !== 'float32')) throw new Error('model.json lists weights that are not float32');
  const offsets = new Map<ManifestWeight, number>();
  let offset = 0;
  for (const w of weights) {
    offsets.set(w, offset);
    offset += 4 * w.shape.reduce((a, b) => a * b, 1);
  }
  if (offset !== files.weightsFile.byteLength)
    throw new Error(`weights.bin holds ${files.weightsFile.byteLength} bytes, model.json lists ${offset}`);
  const labels = metadata.labels;
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) throw new Error('metadata has no labels');
  const hidden = weights.find((w) => w.shape.length === 2 && w.shape[0] === EMBEDDING_SIZE);
  const units = hidden?.shape[1];
  const output = weights.find((w) => w.shape.length === 2 && w.shape[0] === units && w.shape[1] === labels.length);
  const bias = hidden && weights.find((w) => w.name === hidden.name.replace(/kernel$/, 'bias') && w !== hidden);
  if (!hidden || !output || !bias || units === undefined)
    throw new Error("model.json has no head of this service's shape");
  const read = (w: ManifestWeight) => {
    const start = files.weightsFile.byteOffset + offsets.get(w)!;
    const bytes = files.weightsFile.buffer.slice(start, start + 4 * w.shape.reduce((a, b) => a * b, 1));
    return new Float32Array(bytes);
  };
  const trainedAt = new Date(String(metadata.timeStamp));
  if (typeof metadata.trainingId !== 'string' || Number.isNaN(trainedAt.getTime()))
    throw new Error('metadata has no trainingId or timeStamp');
  return {
    trainingId: metadata.trainingId,
    trainedAt,
    labels,
    head: {
      hiddenUnits: units,
      classCount: labels.length,
      hiddenKernel: read(hidden),
      hiddenBias: read(bias),
      outputKernel: read(output),
    },
  };
}
