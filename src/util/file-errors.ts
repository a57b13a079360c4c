// What went wrong opening a file, in the words an operator reads in an error
// message (Node's own messages start with the errno code and repeat the path).

/** "no such file", "permission denied", "it is a directory", or the error's own message. */
export function fileErrorReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return error instanceof Error ? error.message : String(error);
}
