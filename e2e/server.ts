// The real workbench server for the end-to-end suite: `gmem-lab serve` as a child process, the
// page URL read from its stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/gmem-lab.mjs', import.meta.url));
const URL_LINE = /gmem-lab workbench: (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9._~-]+)/;

export interface ServeOptions {
  readonly workspace: string;
  readonly configDir: string;
  readonly workers?: number;
  readonly startTimeoutMs?: number;
}

export interface ServeProcess {
  /** The page to open, with its token. */
  readonly url: string;
  readonly pid: number;
  /** Everything the server wrote to stderr so far (warnings, internal errors). */
  stderr(): string;
  stop(): Promise<void>;
}

export async function startServe(options: ServeOptions): Promise<ServeProcess> {
  const args = [
    BIN,
    'serve',
    '--port',
    '0',
    '--workspace',
    options.workspace,
    '--config-dir',
    options.configDir,
    '--workers',
    String(options.workers ?? 2),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const url = await new Promise<string>((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`gmem-lab serve: ${why}\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    const timer = setTimeout(() => fail(`no URL after ${startTimeoutMs} ms`), startTimeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const m = URL_LINE.exec(stdout);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('error', (err) => fail(err.message));
    void exited.then((code) => fail(`exited with code ${code} before printing its URL`));
  });

  return {
    url,
    pid: child.pid!,
    stderr: () => stderr,
    stop: () => stop(child, exited),
  };
}

async function stop(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
