/** The channel_model table: the head of the model each channel's backend last accepted. */
import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { EMBEDDING_SIZE } from '../config/model-shape';
import type { PreviousModel } from '../training/till-scans';

/**
 * The model the backend last accepted for a channel, as far as scoring scans goes (its head, gate included): the next
 * training says how it did on the till's scans confirmed since, beside the new model (a few kB a product).
 */
@Entity('channel_model')
export class ChannelModel {
  @PrimaryColumn('text', { name: 'channel_id' })
  channelId!: string;

  @Column('text', { name: 'training_id' })
  trainingId!: string;

  @Column('timestamptz', { name: 'trained_at' })
  trainedAt!: Date;

  @Column('jsonb')
  labels!: string[];

  @Column('int', { name: 'hidden_units' })
  hiddenUnits!: number;

  /** The head's hidden kernel, hidden bias and output kernel, float32 little-endian, one after the other. */
  @Column('bytea')
  head!: Buffer;

  @UpdateDateColumn({ type: 'timestamptz', name: 'updated_at' })
  updatedAt!: Date;
}

export function channelModelRow(channelId: string, model: PreviousModel): Omit<ChannelModel, 'updatedAt'> {
  const { head } = model;
  const values = new Float32Array(head.hiddenKernel.length + head.hiddenBias.length + head.outputKernel.length);
  values.set(head.hiddenKernel);
  values.set(head.hiddenBias, head.hiddenKernel.length);
  values.set(head.outputKernel, head.hiddenKernel.length + head.hiddenBias.length);
  return {
    channelId,
    trainingId: model.trainingId,
    trainedAt: model.trainedAt,
    labels: model.labels,
    hiddenUnits: head.hiddenUnits,
    head: Buffer.from(values.buffer, values.byteOffset, values.byteLength),
  };
}

/** The row read back (a row whose sizes do not add up is no model: null). */
export function previousModelOfRow(row: ChannelModel): PreviousModel | null {
  const h = row.hiddenUnits;
  const k = row.labels.length;
  const floats = new Float32Array(
    row.head.buffer.slice(row.head.byteOffset, row.head.byteOffset + row.head.byteLength),
  );
  const kernel = EMBEDDING_SIZE * h;
  if (h <= 0 || row.head.byteLength % 4 || floats.length !== kernel + h + h * k) return null;
  return {
    trainingId: row.trainingId,
    trainedAt: row.trainedAt,
    labels: row.labels,
    head: {
      hiddenUnits: h,
      classCount: k,
      hiddenKernel: floats.slice(0, kernel),
      hiddenBias: floats.slice(kernel, kernel + h),
      outputKernel: floats.slice(kernel + h),
    },
  };
}
