// Schema pieces the boot configuration shares.
import { z } from 'zod';
import { PAGE_SIZE } from '../units.js';

/** A byte count in whole 4 KiB pages, with its default and its description. */
export const bytesField = (value: number, description: string) =>
  z.number().int().nonnegative().multipleOf(PAGE_SIZE).default(value).meta({
    unit: 'bytes',
    description,
  });
