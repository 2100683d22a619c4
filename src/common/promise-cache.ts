/**
 * `map`'s promise for `key`, made by `load` the first time it is asked for. A promise that rejects is forgotten, so
 * the next call tries again (a download that failed, a model that could not be read). `while-running` forgets a
 * resolved one too, once it settles: callers at the same time share one load, later ones load afresh (a row that may
 * be deleted, too large to keep).
 */
export function cachedPromise<K, T>(
  map: Map<K, Promise<T>>,
  key: K,
  load: () => Promise<T>,
  keep: 'once-resolved' | 'while-running' = 'once-resolved',
): Promise<T> {
  let value = map.get(key);
  if (!value) {
    value = load();
    map.set(key, value);
    const forget = () => map.delete(key);
    if (keep === 'while-running') value.then(forget, forget);
    else value.catch(forget);
  }
  return value;
}
