/**
 * Trains a classification head on embeddings, by the recipe's kind: the linear head (the default, linear-head.ts) or
 * the MLP (Teachable Machine's recipe, teachable-machine-head.ts), and scores rows with it.
 */
import type * as TF from '@tensorflow/tfjs';
import { batchLogits, type HeadWeights } from './dense-head';
import { fitLinearHead, type LinearFitOptions, type LinearHeadRecipe, type LinearWeights } from './linear-head';
import { trainMlpHead, type MlpRecipe } from './teachable-machine-head';
import { storeRows, type TrainingSet } from './training-set';

export type HeadRecipe = LinearHeadRecipe | MlpRecipe;

export interface HeadTrainingReport {
  weights: HeadWeights;
  /** L-BFGS iterations of a linear head, epochs of an MLP. */
  iterations: number;
  /** The trained head's logits for the store rows trainHead was given to score, one row after the other. */
  scanLogits?: Float32Array;
}

/**
 * Trains a head on `data` and returns, with it, its logits for `scanRows` (rows of data's embedding store). A linear
 * head's fit starts from `start` when given (see fitLinearHead).
 */
export type TrainHead = (
  data: TrainingSet,
  recipe: HeadRecipe,
  scanRows?: Int32Array,
  start?: LinearWeights,
) => Promise<HeadTrainingReport>;

/** What trainHead may be given besides the rows and recipe. */
export interface TrainHeadOptions extends LinearFitOptions {
  /** Rows of data's embedding store to score with the trained head (HeadTrainingReport.scanLogits). */
  scanRows?: Int32Array;
}

/**
 * Trains the head on `data` and scores `scanRows` (rows of the embedding store, e.g. the scans that cross-validation
 * held out of `data`) with it, in one product of matrices. A linear head's fit starts from `start` when given and
 * does its products with `engine` (see fitLinearHead). Pure apart from TensorFlow and ONNX Runtime: no I/O.
 */
export async function trainHead(
  tf: typeof TF,
  data: TrainingSet,
  recipe: HeadRecipe,
  { onProgress, scanRows, start, engine, stopped }: TrainHeadOptions = {},
): Promise<HeadTrainingReport> {
  const { weights, iterations } =
    recipe.kind === 'linear'
      ? await fitLinearHead(tf, data, recipe, { onProgress, start, engine, stopped })
      : await trainMlpHead(tf, data, recipe, (epoch, total) => onProgress?.(epoch / total)).then((report) => ({
          weights: report.weights,
          iterations: report.epochsRun,
        }));
  return {
    weights,
    iterations,
    scanLogits: scanRows?.length ? batchLogits(tf, weights, storeRows(data.embeddings, scanRows)) : undefined,
  };
}
