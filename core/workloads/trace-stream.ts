// A trace's text as a stream of numbered lines: the core reads no files, so the caller hands it a
// source that gives the text a chunk at a time (the worker reads the file in 1 MiB chunks; tests
// and small callers give a string). A long trace never sits in memory whole, and never as an
// array of its operations: it is read once to check every line, then once more to replay it.
import { utf8Decode, utf8Encode } from '../utf8.js';

/** One pass over a trace's text. */
export interface TraceChunks {
  /** The next piece of text, or null at the end. */
  next(): string | null;
  /** Bytes of the source read so far (for progress). */
  readonly bytesRead: number;
  close(): void;
}

/** One pass over a trace's bytes, for binary formats (QEMU's simple trace backend). */
export interface ByteChunks {
  /** The next piece of the file, or null at the end. */
  next(): Uint8Array | null;
  readonly bytesRead: number;
  close(): void;
}

/** Where a trace comes from: each `open()` starts a new pass over its text from the beginning,
 * each `openBytes()` a new pass over its bytes. */
export interface TraceSource {
  /** The trace's name in messages (its path). */
  readonly name: string;
  /** Its size in bytes, for progress. */
  readonly bytes: number;
  open(): TraceChunks;
  openBytes(): ByteChunks;
}

/** Passes over `bytes`, `chunkBytes` at a time. */
function byteChunks(bytes: Uint8Array, chunkBytes: number): ByteChunks {
  let at = 0;
  return {
    next() {
      if (at >= bytes.length) return null;
      const piece = bytes.subarray(at, at + chunkBytes);
      at += piece.length;
      return piece;
    },
    get bytesRead() {
      return at;
    },
    close() {
      at = bytes.length;
    },
  };
}

/** A trace held as bytes (a binary trace in tests), given in chunks of `chunkBytes`; its text
 * is those bytes decoded as UTF-8. */
export function bytesSource(
  bytes: Uint8Array,
  name: string,
  chunkBytes = bytes.length || 1,
): TraceSource {
  const text = utf8Decode(bytes);
  return {
    name,
    bytes: bytes.length,
    open: () => textSource(text, name).open(),
    openBytes: () => byteChunks(bytes, chunkBytes),
  };
}

/** A trace held as a string, given in chunks of `chunkChars` (default: all at once). */
export function textSource(text: string, name: string, chunkChars = text.length || 1): TraceSource {
  return {
    name,
    bytes: text.length,
    openBytes: () => byteChunks(utf8Encode(text), chunkChars),
    open() {
      let at = 0;
      return {
        next() {
          if (at >= text.length) return null;
          const piece = text.slice(at, at + chunkChars);
          at += piece.length;
          return piece;
        },
        get bytesRead() {
          return at;
        },
        close() {
          at = text.length;
        },
      };
    },
  };
}

/** One line of the trace. */
export interface TraceLine {
  readonly text: string;
  /** 1-based line number. */
  readonly line: number;
  /** The file's last line, with no newline after it (cut short?). */
  readonly lastCut: boolean;
}

/**
 * Lines of a pass, split as splitLines() splits a whole text: a leading byte-order mark dropped,
 * "\n" ends a line and a "\r" before it goes, no line after a final newline, and a last line
 * without one is marked `lastCut`.
 */
export class LineReader {
  private rest = '';
  private lines: string[] = [];
  private at = 0;
  private number = 0;
  private first = true;
  private ended = false;

  constructor(private readonly chunks: TraceChunks) {}

  get bytesRead(): number {
    return this.chunks.bytesRead;
  }

  close(): void {
    this.chunks.close();
  }

  /** The next line, or null after the last. */
  next(): TraceLine | null {
    while (this.at >= this.lines.length) {
      if (this.ended) return null;
      this.fill();
    }
    const text = this.lines[this.at++]!;
    this.number++;
    const lastCut = this.ended && this.at === this.lines.length && this.cutTail;
    return { text: text.endsWith('\r') ? text.slice(0, -1) : text, line: this.number, lastCut };
  }

  /** Whether the last line held in `lines` is the file's unterminated tail. */
  private cutTail = false;

  private fill(): void {
    this.lines = [];
    this.at = 0;
    let chunk = this.chunks.next();
    if (chunk === null) {
      this.ended = true;
      if (this.rest !== '') {
        this.lines = [this.rest];
        this.cutTail = true;
      }
      this.rest = '';
      return;
    }
    if (this.first) {
      this.first = false;
      if (chunk.startsWith('\uFEFF')) chunk = chunk.slice(1);
    }
    const text = this.rest + chunk;
    const parts = text.split('\n');
    this.rest = parts.pop()!;
    this.lines = parts;
  }
}
