/** Small vector arithmetic on plain arrays, shared by the gate, the advice, the negative bank and the benchmarks. */

/** Index of the largest value (the first of ties). */
export function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** A copy of `v` with length 1 (a zero vector stays zero). */
export function unitVector(v: ArrayLike<number>): Float32Array {
  let squares = 0;
  for (let i = 0; i < v.length; i++) squares += v[i] * v[i];
  const norm = Math.sqrt(squares) || 1;
  return Float32Array.from(v, (x) => x / norm);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** Largest |a[i] − b[i]|; NaN when either holds a NaN, so a `< tolerance` check refuses it. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Equal-length rows one after another in one array: a batch for a model. */
export function stackRows(rows: Float32Array[]): Float32Array {
  const stacked = new Float32Array(rows.length * (rows[0]?.length ?? 0));
  rows.forEach((row, i) => stacked.set(row, i * row.length));
  return stacked;
}

/** A model's batch output cut into its rows of `size` values (copies, so the output can be freed). */
export function splitRows(flat: Float32Array, size: number): Float32Array[] {
  return Array.from({ length: flat.length / size }, (_, i) => flat.slice(i * size, (i + 1) * size));
}

/** A zeroed Float32Array in shared memory: posted to a worker thread, it is shared, not copied. */
export function sharedFloat32Array(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

/** A zeroed Uint8Array in shared memory (see sharedFloat32Array). */
export function sharedUint8Array(length: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(length));
}
