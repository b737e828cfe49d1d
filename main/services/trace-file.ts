// A trace file as the core's TraceSource: read synchronously in 1 MiB chunks, as bytes or as text
// decoded as UTF-8 across chunk boundaries (invalid bytes become U+FFFD, as Buffer.toString does,
// and the line that holds them is then a bad line). Each pass opens the file anew; memory stays at
// one chunk.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import {
  hasSimpleHeader,
  simpleConversionCounter,
  type ByteChunks,
  type TraceChunks,
  type TraceSource,
} from '../../core/workloads/trace.js';

const CHUNK_BYTES = 1 << 20;

/** The trace at `path` (absolute, already checked against the trace path policy). */
export function fileTraceSource(path: string, name = path): TraceSource {
  const probe = openSync(path, 'r');
  let bytes: number;
  try {
    bytes = fstatSync(probe).size;
  } finally {
    closeSync(probe);
  }
  return {
    name,
    bytes,
    open(): TraceChunks {
      // UTF-8 decoded across chunk boundaries; a chunk that ends inside a character gives less
      // text, or none, until the next one completes it.
      const decoder = new TextDecoder('utf-8');
      return fileChunks(
        path,
        (chunk) => decoder.decode(chunk, { stream: true }),
        () => decoder.decode(),
      );
    },
    openBytes(): ByteChunks {
      // The reader's buffer itself, read into again by the next call (ByteChunks says so): a
      // plain Uint8Array view of it, so the parsers see one kind of array.
      return fileChunks(
        path,
        (chunk) => new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length),
        () => new Uint8Array(0),
      );
    },
  };
}

/** One pass over the file, a chunk at a time, each turned into `T` (empty ones skipped), and
 * `tail` once at the end. */
function fileChunks<T extends { length: number }>(
  path: string,
  take: (chunk: Buffer) => T,
  tail: () => T,
): { next(): T | null; readonly bytesRead: number; close(): void } {
  let fd: number | null = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let read = 0;
  const close = () => {
    if (fd !== null) closeSync(fd);
    fd = null;
  };
  return {
    next() {
      for (;;) {
        if (fd === null) return null;
        const n = readSync(fd, buffer, 0, CHUNK_BYTES, null);
        if (n === 0) {
          close();
          const rest = tail();
          return rest.length === 0 ? null : rest;
        }
        read += n;
        const piece = take(buffer.subarray(0, n));
        if (piece.length > 0) return piece;
      }
    },
    get bytesRead() {
      return read;
    },
    close,
  };
}

/** Line counts of the traces read so far, by path, with the size and time of change they were
 * counted at: the workbench asks for an estimate on every edit, and a long trace is read once. */
const counted = new Map<string, { size: number; mtimeMs: number; lines: number }>();
const MAX_COUNTED = 64;

/** The operations of a trace file, for estimates: its lines that are not blank, read a chunk at
 * a time without blocking (a whole-file read would hold the file in memory), and read again only
 * when the file changed. */
export async function countTraceLines(path: string): Promise<number> {
  const handle = await open(path, 'r');
  const st = await handle.stat().catch(async (err: unknown) => {
    await handle.close();
    throw err;
  });
  const known = counted.get(path);
  if (known && known.size === st.size && known.mtimeMs === st.mtimeMs) {
    await handle.close();
    return known.lines;
  }
  const lines = await countOpenTrace(handle);
  counted.delete(path);
  counted.set(path, { size: st.size, mtimeMs: st.mtimeMs, lines });
  if (counted.size > MAX_COUNTED) counted.delete(counted.keys().next().value!);
  return lines;
}

async function countOpenTrace(handle: FileHandle): Promise<number> {
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let n = 0;
  let inLine = false;
  try {
    for (let first = true; ; first = false) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      // A QEMU simple-backend trace has records, not lines: its conversions are counted.
      if (first && hasSimpleHeader(buffer.subarray(0, bytesRead)))
        return await countSimpleConversions(handle, buffer.subarray(0, bytesRead), buffer);
      // Bytes, not characters: a line counts once a byte that is not a space, tab or CR comes
      // before its newline (UTF-8 never encodes those bytes inside another character).
      for (let i = 0; i < bytesRead; i++) {
        const c = buffer[i]!;
        if (c === 10) inLine = false;
        else if (!inLine && c !== 32 && c !== 9 && c !== 13) {
          n++;
          inLine = true;
        }
      }
    }
  } finally {
    await handle.close();
  }
  return n;
}

async function countSimpleConversions(
  handle: FileHandle,
  head: Buffer,
  buffer: Buffer,
): Promise<number> {
  const counter = simpleConversionCounter();
  counter.feed(head);
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
    if (bytesRead === 0) break;
    counter.feed(buffer.subarray(0, bytesRead));
  }
  return counter.end();
}
