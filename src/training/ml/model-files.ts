/** A TensorFlow.js layers model's files: model.json and one weights shard, written and read on any backend. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';

/** Where a layers model is written: its model.json and its one weights shard, named by the caller's format. */
export interface LayersModelFiles {
  /** The model.json's path. */
  modelJson: string;
  /** The shard's file name, beside the model.json. */
  weights: string;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
}

/** What tfjs hands to a save handler (tf.io.ModelArtifacts), reduced to what the files need. */
export interface SavedModel {
  modelTopology: unknown;
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

/** model.json of a saved model whose weights are one shard, `weightsFile`, beside it. */
export function modelJsonFor(saved: SavedModel, weightsFile: string): string {
  return JSON.stringify({
    modelTopology: saved.modelTopology,
    format: saved.format ?? 'layers-model',
    generatedBy: saved.generatedBy,
    convertedBy: saved.convertedBy ?? null,
    weightsManifest: [{ paths: [weightsFile], weights: saved.weightSpecs }],
  });
}

/** Writes a saved model as `files` say. */
export async function writeLayersModel(saved: SavedModel, files: LayersModelFiles): Promise<void> {
  await fs.writeFile(files.modelJson, modelJsonFor(saved, files.weights));
  await fs.writeFile(path.join(path.dirname(files.modelJson), files.weights), new Uint8Array(saved.weightData));
}

/** Reads a layers model.json and its shards into memory: works on every backend (wasm and cpu have no file:// IO). */
export async function readModelArtifacts(modelJsonPath: string): Promise<TF.io.ModelArtifacts> {
  const modelJson = JSON.parse(await fs.readFile(modelJsonPath, 'utf8')) as TF.io.ModelJSON;
  const groups = modelJson.weightsManifest ?? [];
  const shards = await Promise.all(
    groups.flatMap((g) => g.paths).map((p) => fs.readFile(path.join(path.dirname(modelJsonPath), p))),
  );
  const weightData = Buffer.concat(shards);
  return {
    modelTopology: modelJson.modelTopology,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    weightSpecs: groups.flatMap((g) => g.weights),
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
  };
}

export async function loadLayersModelFromFile(tf: typeof TF, modelJsonPath: string): Promise<TF.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(await readModelArtifacts(modelJsonPath)));
}
