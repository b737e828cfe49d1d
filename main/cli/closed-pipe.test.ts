// A reader that closes the pipe early (`gmem-lab --help | head -1`): the command ends quietly
// with status 0 instead of dying on EPIPE with a stack trace.
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { endQuietlyOnClosedPipe } from './closed-pipe.js';

const BIN = fileURLToPath(new URL('../../bin/gmem-lab.mjs', import.meta.url));

/** Run the command with its stdout read by `reader`, which may close the pipe. */
function runInto(
  args: string[],
  reader: (stdout: NodeJS.ReadableStream & { destroy(): void }) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GMEMLAB_CLI: 'source' },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  reader(child.stdout);
  return new Promise((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stderr })),
  );
}

describe('a reader that closes the pipe early', () => {
  it.each([['--help'], ['presets']])(
    'gmem-lab %s ends with status 0 and says nothing',
    async (arg) => {
      // The reader is gone before the first line is written: every write meets a closed pipe.
      const r = await runInto([arg], (stdout) => stdout.destroy());
      expect(r).toEqual({ code: 0, signal: null, stderr: '' });
    },
  );

  it('gmem-lab presets read for one chunk, then closed, ends with status 0', async () => {
    let first = '';
    const r = await runInto(['presets'], (stdout) =>
      stdout.once('data', (c: Buffer) => {
        first = c.toString();
        stdout.destroy();
      }),
    );
    expect(first).toMatch(/^preset:/);
    expect(r).toEqual({ code: 0, signal: null, stderr: '' });
  });

  it('ends on EPIPE only; any other write error is thrown on', () => {
    const codes: number[] = [];
    const stream = new PassThrough();
    endQuietlyOnClosedPipe(stream, (code) => codes.push(code));
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(codes).toEqual([0]);
    expect(() =>
      stream.emit('error', Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' })),
    ).toThrow(/ENOSPC/);
    expect(codes).toEqual([0]);
  });
});
