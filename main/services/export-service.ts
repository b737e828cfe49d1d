// Writing an export (PNG, SVG, CSV, JSON, text) to the path the user chose, with the same durable
// atomic write as experiment files: an existing file at that path is replaced whole or not at all.
import { isAbsolute } from 'node:path';
import { ApiError } from '../api.js';
import { writeFileDurable } from './durable-write.js';

export async function writeExport(path: string, data: string | Uint8Array): Promise<void> {
  if (typeof path !== 'string' || !isAbsolute(path) || path.includes('\0'))
    throw new ApiError(
      'FORBIDDEN_PATH',
      `exports need an absolute path, not ${JSON.stringify(path)}`,
    );
  try {
    await writeFileDurable(path, data);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = `cannot write the export ${path}: ${(err as Error).message}`;
    if (code === 'ENOENT') throw new ApiError('NOT_FOUND', message);
    throw new ApiError('IO_ERROR', message);
  }
}
