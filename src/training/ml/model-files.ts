/** Reads a layers model's files into memory on any backend. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';

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
