// UTF-8 between strings and bytes, for traces read as bytes (QEMU's simple backend, text traces
// split into lines as bytes) and tests that build them. TextEncoder and TextDecoder (the WHATWG
// Encoding Standard) exist in every runtime the core runs in, the worker thread and the browser;
// the core's tsconfig takes no DOM or Node types, so the members used here are declared, not
// imported.
declare const TextEncoder: new () => { encode(text: string): Uint8Array };
declare const TextDecoder: new (
  label?: string,
  options?: { ignoreBOM?: boolean },
) => { decode(bytes?: Uint8Array): string };

export function utf8Encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Invalid bytes become U+FFFD, as the Encoding Standard's decoder does; a leading byte-order
 * mark is dropped, as that decoder does at the start of a stream. */
export function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes);
}

/** One decoder for pieces cut from the middle of a stream (lines): a U+FEFF there is a character,
 * kept as such (ignoreBOM), and invalid bytes become U+FFFD. */
let pieceDecoder: { decode(bytes?: Uint8Array): string } | null = null;

/** The text of `bytes[start, end)`, a piece of a longer UTF-8 stream that starts and ends on
 * character boundaries (a line: "\n" is never inside a character's encoding). Bytes below 0x80
 * are their own characters: a short all-ASCII piece is made without the decoder call. */
export function utf8DecodePiece(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes.subarray(start, end) as never);
  }
  pieceDecoder ??= new TextDecoder('utf-8', { ignoreBOM: true });
  return pieceDecoder.decode(bytes.subarray(start, end));
}
