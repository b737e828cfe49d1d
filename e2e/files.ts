// Checks of exported files: a small PNG decoder (chunks, CRCs, inflate, scanline filters) and a
// plain CSV reader.
import { crc32, inflateSync } from 'node:zlib';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export interface DecodedPng {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: number;
  readonly colorType: number;
  /** Every chunk type in file order. */
  readonly chunks: readonly string[];
  /** width * height * 4 bytes, RGBA. */
  readonly rgba: Uint8Array;
}

/** Decode an 8-bit, non-interlaced truecolour PNG (what a canvas writes); throws on anything
 * malformed: signature, chunk CRC, IHDR, missing IEND, wrong data length, unknown filter. */
export function decodePng(bytes: Uint8Array): DecodedPng {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  PNG_SIGNATURE.forEach((b, i) => {
    if (buf[i] !== b) throw new Error(`not a PNG: byte ${i} of the signature is ${buf[i]}`);
  });
  const chunks: string[] = [];
  const idat: Buffer[] = [];
  let header: { width: number; height: number; bitDepth: number; colorType: number } | null = null;
  let interlace = 0;
  let offset = 8;
  while (offset < buf.length) {
    if (offset + 12 > buf.length) throw new Error(`PNG: truncated chunk at byte ${offset}`);
    const length = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > buf.length) throw new Error(`PNG: chunk ${type} runs past the end`);
    const data = buf.subarray(offset + 8, offset + 8 + length);
    const crc = buf.readUInt32BE(offset + 8 + length);
    if (crc32(buf.subarray(offset + 4, offset + 8 + length)) !== crc)
      throw new Error(`PNG: bad CRC in chunk ${type}`);
    chunks.push(type);
    if (type === 'IHDR') {
      if (chunks.length !== 1) throw new Error('PNG: IHDR is not the first chunk');
      header = {
        width: data.readUInt32BE(0),
        height: data.readUInt32BE(4),
        bitDepth: data[8]!,
        colorType: data[9]!,
      };
      interlace = data[12]!;
    } else if (type === 'IDAT') idat.push(data);
    offset = end;
    if (type === 'IEND') break;
  }
  if (!header) throw new Error('PNG: no IHDR');
  if (chunks.at(-1) !== 'IEND') throw new Error('PNG: no IEND');
  const { width, height, bitDepth, colorType } = header;
  if (bitDepth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0)
    throw new Error(
      `PNG: only 8-bit non-interlaced RGB/RGBA is decoded here (bit depth ${bitDepth}, colour type ${colorType}, interlace ${interlace})`,
    );
  const channels = colorType === 6 ? 4 : 3;
  const stride = width * channels;
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length !== height * (stride + 1))
    throw new Error(`PNG: ${raw.length} bytes of image data, expected ${height * (stride + 1)}`);
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    const up = (i: number): number => (y > 0 ? px[out - stride + i]! : 0);
    const left = (i: number): number => (i >= channels ? px[out + i - channels]! : 0);
    const upLeft = (i: number): number =>
      y > 0 && i >= channels ? px[out - stride + i - channels]! : 0;
    for (let i = 0; i < stride; i++) {
      const x = line[i]!;
      let v: number;
      switch (filter) {
        case 0:
          v = x;
          break;
        case 1:
          v = x + left(i);
          break;
        case 2:
          v = x + up(i);
          break;
        case 3:
          v = x + ((left(i) + up(i)) >> 1);
          break;
        case 4:
          v = x + paeth(left(i), up(i), upLeft(i));
          break;
        default:
          throw new Error(`PNG: unknown filter ${filter} on row ${y}`);
      }
      px[out + i] = v & 0xff;
    }
  }
  let rgba = px;
  if (channels === 3) {
    rgba = new Uint8Array(width * height * 4);
    for (let p = 0; p < width * height; p++) {
      rgba.set(px.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = 255;
    }
  }
  return { width, height, bitDepth, colorType, chunks, rgba };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function pixel(png: DecodedPng, x: number, y: number): [number, number, number, number] {
  const i = (y * png.width + x) * 4;
  return [png.rgba[i]!, png.rgba[i + 1]!, png.rgba[i + 2]!, png.rgba[i + 3]!];
}

export interface Csv {
  readonly header: readonly string[];
  readonly rows: readonly (readonly number[])[];
}

/** A CSV of numbers under one header line (what the workbench exports). */
export function parseNumericCsv(text: string): Csv {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const [head, ...body] = lines;
  if (head === undefined) throw new Error('CSV: empty');
  const header = head.split(',');
  const rows = body.map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== header.length)
      throw new Error(`CSV: row ${i + 2} has ${cells.length} cells, the header ${header.length}`);
    return cells.map((c) => {
      const n = Number(c);
      if (c.trim() === '' || !Number.isFinite(n)) throw new Error(`CSV: row ${i + 2}: "${c}"`);
      return n;
    });
  });
  return { header, rows };
}
