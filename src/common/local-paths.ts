/**
 * Text that leaves the service (a job's error, in its record and in the `failed` webhook) must not show where the
 * service keeps its files: each configured folder is replaced by the name of its setting.
 */
export function hideLocalPaths(text: string, folders: Record<string, string>): string {
  // Longest first, so that a folder inside another (MODEL_CACHE_DIR/embeddings) keeps its own name.
  const byLength = Object.entries(folders)
    .filter(([, folder]) => folder.length > 1)
    .sort(([, a], [, b]) => b.length - a.length);
  let result = text;
  for (const [setting, folder] of byLength) result = result.split(folder.replace(/\/+$/, '')).join(setting);
  return result;
}
