// UTF-8 between strings and bytes, for traces read as bytes (QEMU's simple backend) and tests that
// build them. TextEncoder and TextDecoder (the WHATWG Encoding Standard) exist in every runtime the
// core runs in, the worker thread and the browser; the core's tsconfig takes no DOM or Node
// types, so the two members used here are declared, not imported.
declare const TextEncoder: new () => { encode(text: string): Uint8Array };
declare const TextDecoder: new (label?: string) => { decode(bytes?: Uint8Array): string };

export function utf8Encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Invalid bytes become U+FFFD, as the Encoding Standard's decoder does. */
export function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes);
}
