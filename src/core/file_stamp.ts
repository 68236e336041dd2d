/**
 * A file's identity and version as one string, for the caches of a long-running process
 * (provctl serve) that reuse what they parsed from a file while it is unchanged.
 */

/**
 * Device, inode, size, mtime and ctime of `path` (a chmod or chown changes ctime, a
 * rename the inode). Undefined when the file is missing, unreadable, or was changed too
 * recently to be told apart from a next change: mtime moves with the kernel's coarse
 * clock (and Deno reports ctime in whole seconds), so two same-size writes within one
 * tick would look equal. Callers do not cache a file whose stamp is undefined.
 *
 * Synchronous on purpose: a stat is microseconds, the async form's thread-pool hop costs
 * more than that on every API request.
 */
export function fileStamp(path: string, now = Date.now()): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return undefined;
  }
  const mtime = info.mtime?.getTime();
  const ctime = info.ctime?.getTime();
  if (mtime === undefined || ctime === undefined) return undefined;
  if (Math.abs(now - mtime) < 1000 || Math.abs(now - ctime) < 2000) return undefined;
  return `${info.dev}:${info.ino}:${info.size}:${mtime}:${ctime}`;
}
