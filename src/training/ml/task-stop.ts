/**
 * A cancelled task's stop flag (see MlWorkerPool.askToStop): raised by the pool, read by the task between its steps,
 * so that its thread is never stopped while ONNX Runtime runs in it.
 */

/** Thrown by a task whose stop flag was raised (its caller was answered already). */
export class TaskStoppedError extends Error {
  constructor() {
    super('stopped: the task was cancelled');
  }
}

/** Whether the pool raised the flag (never, without one). */
export function stopRequested(stop: Int32Array | undefined): () => boolean {
  return () => stop !== undefined && Atomics.load(stop, 0) === 1;
}
