// Schema problems in the field's own terms: limits in the field's unit (bytes as KiB / MiB / GiB,
// ns as us / ms / s, read from the schema's metadata), what came instead, and what to do. The same
// words reach the setup form, the CLI and the bridge, because all of them validate through
// zodProblems (load.ts). A message the schema wrote itself (a refinement) is kept as it is.
import type { z } from 'zod';
import { formatValue } from '../report/format.js';

type Issue = z.core.$ZodIssue;

/** A limit or value in the field's unit: "2 MiB (2097152 bytes)", "100 ms (100000000 ns)". */
function inUnit(value: number, unit: string | undefined): string {
  if (unit === 'bytes' && Math.abs(value) >= 1024)
    return `${formatValue(value, 'bytes')} (${value} bytes)`;
  if (unit === 'bytes') return `${value} bytes`;
  if (unit === 'ns' && Math.abs(value) >= 1000) return `${formatValue(value, 'ns')} (${value} ns)`;
  if (unit === 'ns') return `${value} ns`;
  if (value === Number.MAX_SAFE_INTEGER) return '2^53 - 1 (9007199254740991)';
  return String(value);
}

const ZOD_DEFAULT = /^(Too small|Too big|Invalid input|Invalid option|Invalid number):/;

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a text string',
  boolean: 'true or false',
  object: 'an object ({...})',
  array: 'a list ([...])',
  null: 'null',
};

/** One issue as a sentence about its field; `unit`: the field's unit, when it has one. */
export function issueMessage(issue: Issue, unit: string | undefined): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove ${issue.keys.length > 1 ? 'them' : 'it'} or check the spelling`;
  if (issue.code === 'invalid_union')
    return `${issue.message}; check the "kind" field and the fields that kind needs`;
  // The schema's own words (refinements, custom limits) already say what to do.
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const limit = Number(small ? issue.minimum : issue.maximum);
      const bound = small
        ? issue.inclusive
          ? 'at least'
          : 'more than'
        : issue.inclusive
          ? 'at most'
          : 'less than';
      if (issue.origin === 'array' || issue.origin === 'set')
        return `needs ${bound} ${limit} item${limit === 1 ? '' : 's'}: ${small ? 'add' : 'remove'} some`;
      if (issue.origin === 'string')
        return `must be ${bound} ${limit} character${limit === 1 ? '' : 's'} long`;
      return `must be ${bound} ${inUnit(limit, unit)}: give a ${small ? 'larger' : 'smaller'} value`;
    }
    case 'not_multiple_of':
      return `must be a multiple of ${inUnit(Number(issue.divisor), unit)}: round it to one`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_type': {
      const want = TYPE_WORDS[issue.expected] ?? issue.expected;
      const units = unit === 'bytes' ? ' of bytes' : unit === 'ns' ? ' of ns' : '';
      const got = /received (\w+)/.exec(issue.message)?.[1];
      if (got === 'undefined') return `missing: give ${want}${units}`;
      return `expected ${want}${units}${got ? `, got ${TYPE_WORDS[got] ?? got}` : ''}${
        units
          ? ` (write the value in ${unit === 'bytes' ? 'bytes, e.g. 4294967296 for 4 GiB' : 'ns, e.g. 1000000 for 1 ms'})`
          : ''
      }`;
    }
    default:
      return issue.message;
  }
}
