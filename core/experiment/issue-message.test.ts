// Every kind of schema problem an experiment file can have, in the field's terms: limits in the
// field's unit, what came instead, what to do; never zod's raw wording.
import { describe, expect, it } from 'vitest';
import { parseExperimentValue, type LoadProblem } from './load.js';
import { FORMAT_NAME, FORMAT_VERSION } from './schema.js';

const GiB = 2 ** 30;

/** An experiment document the cases edit freely, wrong types included (that is the point). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any JSON may go anywhere here
type Doc = Record<string, any>;

function doc(patch: (d: Doc) => void): Record<string, unknown> {
  const d: Doc = {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name: 'messages',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 2048 }] },
    guest: { memoryBytes: 4 * GiB, vendor: 'snp', vcpus: 4 },
    workload: { kind: 'lifecycle' },
    variants: [
      { name: 'a', pageSize: '2m', allocator: 'hugetlb' },
      { name: 'b', pageSize: '4k', allocator: 'buddy' },
    ],
  };
  patch(d);
  return d;
}

function problems(patch: (d: Doc) => void): readonly LoadProblem[] {
  const r = parseExperimentValue(doc(patch));
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

function problemAt(path: string, patch: (d: Doc) => void): string {
  const found = problems(patch).find((p) => p.path === path);
  if (!found) throw new Error(`no problem at ${path}: ${JSON.stringify(problems(patch))}`);
  return found.message;
}

const RAW = /Too small|Too big|Invalid input|Invalid option|Invalid number|>=|<=/;

describe("schema problems in the field's terms", () => {
  const cases: Array<[string, string, (d: Doc) => void, RegExp]> = [
    [
      'too_small, bytes',
      'guest.memoryBytes',
      (d) => (d.guest.memoryBytes = 4096),
      /^must be at least 2 MiB \(2097152 bytes\): give a larger value$/,
    ],
    [
      'too_big, bytes',
      'guest.memoryBytes',
      (d) => (d.guest.memoryBytes = 2 ** 50),
      /^must be at most 64 TiB \(70368744177664 bytes\): give a smaller value$/,
    ],
    [
      'too_small, a count',
      'guest.vcpus',
      (d) => (d.guest.vcpus = 0),
      /^must be at least 1: give a larger value$/,
    ],
    [
      'too_big, the safe integer bound',
      'seed',
      (d) => (d.seed = 2 ** 60),
      /^must be at most 2\^53 - 1 \(9007199254740991\)/,
    ],
    [
      'too_small, ns',
      'workload.runtime.durationNs',
      (d) => (d.workload.runtime = { durationNs: -1 }),
      /^must be at least 0 ns: give a larger value$/,
    ],
    [
      'too_small, a list',
      'variants',
      (d) => (d.variants = [d.variants[0]]),
      /^needs at least 2 items: add some$/,
    ],
    [
      'invalid_type, bytes',
      'guest.memoryBytes',
      (d) => (d.guest.memoryBytes = '4G'),
      /^expected a number of bytes, got a text string \(write the value in bytes, e\.g\. 4294967296 for 4 GiB\)$/,
    ],
    [
      'invalid_type, whole number',
      'guest.vcpus',
      (d) => (d.guest.vcpus = 1.5),
      /^expected a whole number, got a number$/,
    ],
    [
      'invalid_type, missing',
      'guest.memoryBytes',
      (d) => delete d.guest.memoryBytes,
      /^missing: give a (number|whole number) of bytes$/,
    ],
    [
      'invalid_value',
      'variants[1].allocator',
      (d) => (d.variants[1].allocator = 'slab'),
      /^must be one of "hugetlb", .*"buddy"/,
    ],
    [
      'unrecognized_keys',
      'guest',
      (d) => (d.guest.ram = 1),
      /^unknown field "ram": remove it or check the spelling$/,
    ],
    [
      'invalid_union',
      'workload.kind',
      (d) => (d.workload = { kind: 'nope' }),
      /check the "kind" field/,
    ],
  ];
  for (const [kind, path, patch, expected] of cases) {
    it(kind, () => {
      const message = problemAt(path, patch);
      expect(message).toMatch(expected);
      expect(message).not.toMatch(RAW);
    });
  }

  it("not_multiple_of, in the field's unit (fleet VM sizes)", () => {
    const message = problemAt('workload.vmSizes[0].bytes', (d) => {
      d.workload = { kind: 'fleet', vmSizes: [{ bytes: 3 * 2 ** 20, weight: 1 }] };
    });
    expect(message).toBe('must be a multiple of 2 MiB (2097152 bytes): round it to one');
  });
});
