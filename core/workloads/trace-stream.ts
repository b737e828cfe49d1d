// A trace's text as a stream of numbered lines: the core reads no files, so the caller hands it a
// source that gives the text, or its bytes, a chunk at a time (the worker reads the file in 1 MiB
// chunks; tests and small callers give a string). A long trace never sits in memory whole, and
// never as an array of its operations: it is read once to check every line, and replayed from the
// bounded log of operations that pass kept (trace-oplog.ts), or read once more when it outgrew it.
// Text traces are split into lines on their bytes (ByteLineReader), LineReader's lines exactly.
import { utf8Decode, utf8DecodePiece, utf8Encode } from '../utf8.js';

/** One pass over a trace's text. */
export interface TraceChunks {
  /** The next piece of text, or null at the end. */
  next(): string | null;
  /** Bytes of the source read so far (for progress). */
  readonly bytesRead: number;
  close(): void;
}

/** One pass over a trace's bytes: binary formats (QEMU's simple trace backend), and text read as
 * bytes. */
export interface ByteChunks {
  /** The next piece of the file, or null at the end; valid until the next call, which may read
   * into the same memory (a reader keeps a copy of what it needs past that). */
  next(): Uint8Array | null;
  readonly bytesRead: number;
  close(): void;
}

/** Where a trace comes from: each `open()` starts a new pass over its text from the beginning,
 * each `openBytes()` a new pass over its bytes. The text is the bytes decoded as UTF-8 (a leading
 * byte-order mark dropped, as the Encoding Standard's decoder drops it), so a pass may read
 * either. */
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
    // A text that starts with U+FEFF is given a byte-order mark before it, which decoding drops:
    // its bytes decode to the text itself.
    openBytes: () =>
      byteChunks(utf8Encode(text.startsWith('\uFEFF') ? `\uFEFF${text}` : text), chunkChars),
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

const EMPTY = new Uint8Array(0);
/** Bytes at the start of a stream that may be byte-order marks: the decoder's, then LineReader's. */
const HEAD_BYTES = 6;

/** Past the byte-order marks at `from`: the one the UTF-8 decoder drops at the start of a stream,
 * then the U+FEFF LineReader drops at the start of the text. */
function pastMarks(b: Uint8Array, from: number): number {
  let at = from;
  for (let k = 0; k < 2 && b[at] === 0xef && b[at + 1] === 0xbb && b[at + 2] === 0xbf; k++) at += 3;
  return at;
}

/**
 * Lines of a pass over a trace's bytes, the lines LineReader gives from their decoded text (a
 * leading byte-order mark dropped, "\n" ends a line and a "\r" before it goes, no line after a
 * final newline, a last line without one marked `lastCut`), without decoding them: after next(),
 * the line is `bytes[start, end)`, valid until the next call, and text() decodes it. A line that
 * runs across chunks is put together in a buffer of its own; every other one is read in place.
 */
export class ByteLineReader implements PassLines {
  bytes: Uint8Array = EMPTY;
  start = 0;
  end = 0;
  /** 1-based number of the current line. */
  line = 0;
  lastCut = false;
  private chunk: Uint8Array = EMPTY;
  private at = 0;
  /** The start of a line whose end is in a later chunk (or, at the start of the stream, the
   * bytes that may be byte-order marks). */
  private carry = new Uint8Array(256);
  private carryLength = 0;
  private head = true;
  private ended = false;

  constructor(private readonly chunks: ByteChunks) {}

  get bytesRead(): number {
    return this.chunks.bytesRead;
  }

  close(): void {
    this.chunks.close();
  }

  /** The current line's text. */
  text(): string {
    return utf8DecodePiece(this.bytes, this.start, this.end);
  }

  /** Whether the next line starts in the chunk held, at `chunkAt` in `chunkBytes`, and is to be
   * read there: for a caller that reads lines in place itself and then calls skipLines(). */
  inPlace(): boolean {
    return !this.head && this.carryLength === 0 && this.at < this.chunk.length;
  }

  get chunkBytes(): Uint8Array {
    return this.chunk;
  }

  get chunkAt(): number {
    return this.at;
  }

  /** Past `count` lines the caller read in place (inPlace()), the last one's "\n" just before
   * `next`. */
  skipLines(count: number, next: number): void {
    this.at = next;
    this.line += count;
    this.lastCut = false;
  }

  /** To the next line; false after the last. */
  next(): boolean {
    for (;;) {
      const chunk = this.chunk;
      if (this.at < chunk.length) {
        const nl = chunk.indexOf(10, this.at);
        if (nl >= 0) {
          if (this.carryLength > 0) {
            this.append(chunk, this.at, nl);
            this.takeCarry();
          } else {
            this.bytes = chunk;
            this.start = this.at;
            this.end = nl;
          }
          this.at = nl + 1;
          return this.found(false);
        }
        this.append(chunk, this.at, chunk.length);
        this.at = chunk.length;
      }
      if (this.ended) {
        if (this.carryLength === 0) return false;
        this.takeCarry();
        return this.found(true);
      }
      const c = this.chunks.next();
      if (c === null) {
        this.ended = true;
        if (this.head) this.endHead();
        continue;
      }
      this.take(c);
    }
  }

  private found(lastCut: boolean): true {
    if (this.end > this.start && this.bytes[this.end - 1] === 13) this.end--;
    this.line++;
    this.lastCut = lastCut;
    return true;
  }

  private takeCarry(): void {
    this.bytes = this.carry;
    this.start = 0;
    this.end = this.carryLength;
    this.carryLength = 0;
  }

  private take(c: Uint8Array): void {
    this.at = 0;
    if (!this.head) {
      this.chunk = c;
      return;
    }
    if (this.carryLength === 0 && c.length >= HEAD_BYTES) {
      this.head = false;
      this.chunk = c;
      this.at = pastMarks(c, 0);
      return;
    }
    // Chunks too small to tell: gathered until they can.
    this.append(c, 0, c.length);
    this.chunk = EMPTY;
    if (this.carryLength >= HEAD_BYTES) this.endHead();
  }

  /** The gathered first bytes, their marks dropped, as the chunk to read from. */
  private endHead(): void {
    this.head = false;
    const gathered = this.carry.slice(0, this.carryLength);
    this.carryLength = 0;
    this.chunk = gathered;
    this.at = pastMarks(gathered, 0);
  }

  private append(from: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.carryLength + n > this.carry.length) {
      const grown = new Uint8Array(Math.max(this.carry.length * 2, this.carryLength + n));
      grown.set(this.carry.subarray(0, this.carryLength));
      this.carry = grown;
    }
    this.carry.set(from.subarray(start, end), this.carryLength);
    this.carryLength += n;
  }
}

/** The lines of one pass, read one after the other: ByteLineReader, or TextLineReader. */
export interface PassLines {
  next(): boolean;
  /** 1-based number of the current line. */
  readonly line: number;
  readonly lastCut: boolean;
  text(): string;
  readonly bytesRead: number;
  close(): void;
}

/** LineReader's lines of a pass over a trace's text, read as ByteLineReader's are: for formats
 * whose every line is decoded anyway (a chunk decoded at once costs less than line by line). */
export class TextLineReader implements PassLines {
  line = 0;
  lastCut = false;
  private current = '';
  private readonly reader: LineReader;

  constructor(chunks: TraceChunks) {
    this.reader = new LineReader(chunks);
  }

  get bytesRead(): number {
    return this.reader.bytesRead;
  }

  close(): void {
    this.reader.close();
  }

  text(): string {
    return this.current;
  }

  next(): boolean {
    const l = this.reader.next();
    if (l === null) return false;
    this.current = l.text;
    this.line = l.line;
    this.lastCut = l.lastCut;
    return true;
  }
}
