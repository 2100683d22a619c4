/** Writes the Teachable Machine files of a trained model and checks that they reload to the same predictions. */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Injectable } from '@nestjs/common';
import { REPORT_FILE } from './report';
import { METADATA_FILE, MODEL_FILES, metadataFor, type MetadataInput } from './teachable-machine-format';

/** Where each published file went: the model's three files and its report. */
export type PublishedFiles = Record<(typeof MODEL_FILES)[number] | typeof REPORT_FILE, string>;

/** A model being written: its files go to a private folder inside the output folder until they are complete. */
export interface StagedModel {
  dir: string;
  outDir: string;
}

/**
 * Writes the Teachable Machine package. Files are assembled in a staging folder on the same disk and then renamed
 * into place, so the output folder never holds a half-written model and its other files are never touched.
 */
@Injectable()
export class ExportService {
  async stage(outDir: string): Promise<StagedModel> {
    await fs.mkdir(outDir, { recursive: true });
    const dir = path.join(outDir, `.ml-trainer-staging-${randomUUID()}`);
    await fs.mkdir(dir);
    return { dir, outDir };
  }

  /**
   * Adds metadata.json and report.html to a staged model.json + weights.bin and moves the four files into the output
   * folder.
   */
  async publish(staged: StagedModel, metadata: MetadataInput, report: string): Promise<PublishedFiles> {
    await fs.writeFile(path.join(staged.dir, METADATA_FILE), JSON.stringify(metadataFor(metadata)));
    await fs.writeFile(path.join(staged.dir, REPORT_FILE), report);
    const written = {} as PublishedFiles;
    for (const file of [...MODEL_FILES, REPORT_FILE] as const) {
      const target = path.join(staged.outDir, file);
      await fs.rename(path.join(staged.dir, file), target);
      written[file] = target;
    }
    await this.discard(staged);
    return written;
  }

  async discard(staged: StagedModel): Promise<void> {
    await fs.rm(staged.dir, { recursive: true, force: true });
  }
}
