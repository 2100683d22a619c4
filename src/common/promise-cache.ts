/**
 * `map`'s promise for `key`, made by `load` the first time it is asked for. A promise that rejects is forgotten, so
 * the next call tries again (a download that failed, a model that could not be read).
 */
export function cachedPromise<K, T>(map: Map<K, Promise<T>>, key: K, load: () => Promise<T>): Promise<T> {
  let value = map.get(key);
  if (!value) {
    value = load();
    map.set(key, value);
    value.catch(() => map.delete(key));
  }
  return value;
}
