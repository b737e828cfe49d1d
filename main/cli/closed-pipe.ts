// A reader that stops early (`gmem-lab presets | head -1`) closes its end of the pipe, and the
// command's next write fails with EPIPE. As other command-line tools, gmem-lab then ends quietly
// with status 0: the reader has what it wanted, and there is nowhere left to say anything. Any
// other write error is thrown on, as Node would without this handler.
import type { Writable } from 'node:stream';

export function endQuietlyOnClosedPipe(
  stream: Writable,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      exit(0);
      return;
    }
    throw err;
  });
}
