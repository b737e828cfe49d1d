// Reading sizes as people type them: "16 GiB", "2M", "0x200000", "4096".

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Bytes from text, or an error message saying what was expected. */
export function parseSize(
  text: string,
): { ok: true; value: number } | { ok: false; message: string } {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return { ok: true, value: Number.parseInt(t, 16) };
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(t);
  if (!m) return { ok: false, message: 'expected a size like 4096, 2 MiB, 16G or 0x200000' };
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined)
    return { ok: false, message: `unknown unit "${m[2]}" (use B, KiB, MiB, GiB or TiB)` };
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value))
    return { ok: false, message: 'the size must be a whole number of bytes' };
  return { ok: true, value };
}
