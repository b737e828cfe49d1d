// Our own operation formats, CSV and JSONL, share one record model: one operation per line, named
// fields, validated by one zod schema per operation so every message names the field at fault.
// trace-csv.ts and trace-jsonl.ts turn their lines into records; this file turns a record into an
// operation.
import { z } from 'zod';
import type { Access, Shareability, Who } from '../gmem/guest-memfd.js';
import { PAGE_SIZE } from '../units.js';
import {
  checkAddress,
  checkRange,
  checkSize,
  parseUnsigned,
  type Parsed,
  type TimeChecker,
} from './trace-checks.js';
import { hex, show } from './trace-lines.js';
import { TRACE_OP_NAMES, type TraceOp, type TraceOpName } from './trace-ops.js';

export const TRACE_FIELDS = [
  'time_ns',
  'op',
  'offset',
  'gpa',
  'size',
  'to',
  'who',
  'access',
] as const;

// Numbers come as JSON numbers or decimal / 0x-hex strings. An absent required field gets our
// "missing" message (zod's own says "expected nonoptional"); optional fields are also wrapped in
// .optional() so the object schema lets their key be absent.
const unsignedField = (check: (v: number) => string | null, required: boolean) =>
  z.unknown().transform((raw, ctx): number | undefined => {
    if (raw === undefined) {
      if (!required) return undefined;
      ctx.addIssue({ code: 'custom', message: 'missing' });
      return z.NEVER;
    }
    const r = parseUnsigned(raw);
    const bad = r.ok ? check(r.value) : r.message;
    if (!r.ok || bad) {
      ctx.addIssue({ code: 'custom', message: bad ?? 'invalid' });
      return z.NEVER;
    }
    return r.value;
  });
const optionalUnsigned = (check: (v: number) => string | null) =>
  unsignedField(check, false).optional();

const enumField = <T extends string>(values: readonly [T, ...T[]], usedBy: string) =>
  z.enum(values as unknown as [T, ...T[]], {
    error: (issue) =>
      issue.input === undefined
        ? `missing: ${usedBy} needs ${values.map((v) => `"${v}"`).join(' or ')}`
        : `expected ${values.map((v) => `"${v}"`).join(' or ')}, got ${show(issue.input)}`,
  });

const commonFields = {
  time_ns: optionalUnsigned(() => null),
  offset: optionalUnsigned((v) => checkAddress('offset', v)),
  gpa: optionalUnsigned((v) => checkAddress('gpa', v)),
  size: unsignedField(checkSize, true),
};

const rangeOp = <N extends TraceOpName>(op: N) =>
  z.object({ op: z.literal(op), ...commonFields }).strict();

const OP_SCHEMAS = {
  convert: z
    .object({
      op: z.literal('convert'),
      ...commonFields,
      to: enumField(['shared', 'private'], 'convert'),
    })
    .strict(),
  fallocate: rangeOp('fallocate'),
  punch_hole: rangeOp('punch_hole'),
  pin: rangeOp('pin'),
  unpin: rangeOp('unpin'),
  fault: z
    .object({
      op: z.literal('fault'),
      ...commonFields,
      // A fault touches one 4 KiB page; the size may be left out.
      size: optionalUnsigned((v) =>
        v === PAGE_SIZE
          ? null
          : `${hex(v)}: a fault covers one 4 KiB page, size 4096 (or leave it out)`,
      ),
      who: enumField(['guest', 'host'], 'fault'),
      access: enumField(['read', 'write'], 'fault'),
    })
    .strict(),
  prefault: rangeOp('prefault'),
} as const satisfies Record<TraceOpName, z.ZodType>;

const OpNameSchema = z.enum(TRACE_OP_NAMES, {
  error: (issue) =>
    issue.input === undefined
      ? `missing: expected one of ${TRACE_OP_NAMES.join(', ')}`
      : `unknown operation ${show(issue.input)}: expected one of ${TRACE_OP_NAMES.join(', ')}`,
});

/** Fields an operation takes, for messages. */
function fieldsOf(op: TraceOpName): string {
  const extra = op === 'convert' ? ', to' : op === 'fault' ? ', who, access' : '';
  return `time_ns, op, offset or gpa, size${extra}`;
}

export interface RecordSource {
  /** 'column' (CSV) or 'field' (JSONL), for messages. */
  readonly noun: 'column' | 'field';
  /** CSV: the header's columns, to tell an empty cell from a missing column. */
  readonly columns?: readonly string[];
}

/** What an operation's schema leaves once it has accepted a record. */
interface RecordFields {
  time_ns?: number;
  offset?: number;
  gpa?: number;
  size?: number;
  to?: Shareability;
  who?: Who;
  access?: Access;
}

/** Validate one CSV row or JSON object and build its operation; messages name the field. */
function opFromRecord(
  line: number,
  record: Record<string, unknown>,
  source: RecordSource,
): Parsed<TraceOp> {
  const fail = (message: string): Parsed<TraceOp> => ({ ok: false, message });
  const name = OpNameSchema.safeParse(record.op);
  if (!name.success) return fail(`${source.noun} "op": ${name.error.issues[0]!.message}`);
  const op = name.data;
  const schema: z.ZodType = OP_SCHEMAS[op];
  const parsed = schema.safeParse(record);
  if (!parsed.success) {
    return fail(parsed.error.issues.map((issue) => issueMessage(issue, op, source)).join('; '));
  }
  const d = parsed.data as RecordFields;
  const where = addressOf(d, source.noun);
  if (!where.ok) return where;
  const { space, address } = where.value;
  const size = d.size ?? PAGE_SIZE;
  const bad = checkRange(space, address, size);
  if (bad) return fail(bad);
  const base = {
    line,
    ...(d.time_ns !== undefined ? { timeNs: d.time_ns } : {}),
    space,
    address,
    size,
  } as const;
  switch (op) {
    case 'convert':
      return { ok: true, value: { ...base, op, to: d.to! } };
    case 'fault':
      return { ok: true, value: { ...base, op, who: d.who!, access: d.access! } };
    default:
      return { ok: true, value: { ...base, op } };
  }
}

/** A record's operation, with its time checked against the operations before it. */
export function recordOp(
  line: number,
  record: Record<string, unknown>,
  source: RecordSource,
  times: TimeChecker,
): Parsed<TraceOp> {
  const parsed = opFromRecord(line, record, source);
  if (!parsed.ok) return parsed;
  const bad = times.check(line, parsed.value.timeNs);
  return bad ? { ok: false, message: bad } : parsed;
}

/** One zod issue in our words: the field it is about, and what to do. */
function issueMessage(
  issue: z.ZodError['issues'][number],
  op: TraceOpName,
  source: RecordSource,
): string {
  if (issue.code === 'unrecognized_keys') return unusedFieldsMessage(issue.keys, op, source.noun);
  const key = String(issue.path[0] ?? '');
  let message = issue.message;
  // In CSV a missing value is an empty cell, or a column the header lacks: say which.
  if (message.startsWith('missing') && source.columns) {
    message = source.columns.includes(key)
      ? message.replace(/^missing/, 'empty')
      : message.replace(/^missing/, `missing (the header has no "${key}" column)`);
  }
  return key ? `${source.noun} "${key}": ${message}` : message;
}

/** Keys the operation's schema does not take: a field of another operation, or an unknown one. */
function unusedFieldsMessage(
  keys: readonly string[],
  op: TraceOpName,
  noun: RecordSource['noun'],
): string {
  const quote = (ks: string[]) => ks.map((k) => `"${k}"`).join(', ');
  const isField = (k: string) => (TRACE_FIELDS as readonly string[]).includes(k);
  const unused = keys.filter(isField);
  const unknown = keys.filter((k) => !isField(k));
  const parts: string[] = [];
  if (unused.length > 0) {
    const leave = noun === 'column' ? 'empty' : 'out';
    parts.push(
      `${op} takes no ${quote(unused)} (it takes ${fieldsOf(op)}): leave ${unused.length > 1 ? 'them' : 'it'} ${leave}`,
    );
  }
  if (unknown.length > 0) {
    parts.push(`unknown ${noun}(s) ${quote(unknown)}: expected ${fieldsOf(op)}`);
  }
  return parts.join('; ');
}

/** Exactly one of offset and gpa: which address space the operation is in is never guessed. */
function addressOf(
  d: RecordFields,
  noun: RecordSource['noun'],
): Parsed<{ space: 'offset' | 'gpa'; address: number }> {
  if (d.offset !== undefined && d.gpa !== undefined) {
    return {
      ok: false,
      message: `give "offset" (guest_memfd file offset) or "gpa" (guest physical address), not both`,
    };
  }
  if (d.offset === undefined && d.gpa === undefined) {
    return {
      ok: false,
      message: `missing the address: give ${noun} "offset" (guest_memfd file offset) or "gpa" (guest physical address)`,
    };
  }
  return d.gpa !== undefined
    ? { ok: true, value: { space: 'gpa', address: d.gpa } }
    : { ok: true, value: { space: 'offset', address: d.offset! } };
}
