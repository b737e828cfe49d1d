// Malformed experiment files are refused with messages that name the place and say what to do.
import { describe, expect, it } from 'vitest';
import { configHash, formatProblems, parseExperimentText, parseExperimentValue } from './load.js';
import { ALLOCATOR_PAGE_SIZES, type AllocatorKind } from '../config.js';
import { FORMAT_NAME, FORMAT_VERSION } from './schema.js';

const GiB = 1024 ** 3;

function base(): Record<string, unknown> {
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name: 'two fault paths',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7' }] },
    guest: { memoryBytes: 4 * GiB, vendor: 'none' },
    workload: { kind: 'fault-path', touchedBytes: 8 * 1024 * 1024 },
    variants: [
      { name: 'kept', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-kept' },
      { name: 'removed', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-removed' },
    ],
  };
}

function problemsOf(doc: unknown) {
  const r = parseExperimentValue(doc);
  if (r.ok) throw new Error('expected a refusal');
  return r;
}

describe('loading experiment files', () => {
  // kvm_gmem_create() needs a PAGE_SIZE-aligned size; a huge-page backed guest_memfd (the HugeTLB
  // series) whole huge pages: both refused where they are typed, with what to do.
  it('kvm_gmem_create: refuses a guest of partial pages or of partial huge pages of a variant', () => {
    const partial = base();
    (partial['guest'] as Record<string, unknown>)['memoryBytes'] = 4 * GiB + 1024;
    const p1 = problemsOf(partial).problems.find((x) => x.path === 'guest.memoryBytes');
    expect(p1?.message).toMatch(/whole 4 KiB pages/);
    const huge = base();
    (huge['guest'] as Record<string, unknown>)['memoryBytes'] = 4 * GiB + 2 * 1024 * 1024;
    (huge['variants'] as Record<string, unknown>[])[1] = {
      name: '1g',
      pageSize: '1g',
      allocator: 'hugetlb',
      faultPath: 'change-pte-removed',
    };
    const p2 = problemsOf(huge).problems.find((x) => x.path === 'variants[1].pageSize');
    expect(p2?.message).toMatch(/not a multiple of the 1g backing page size/);
    // 4 KiB backing needs nothing more than whole pages.
    (huge['variants'] as Record<string, unknown>[])[1] = {
      name: 'removed',
      pageSize: '4k',
      allocator: 'buddy',
      faultPath: 'change-pte-removed',
    };
    expect(parseExperimentValue(huge).ok).toBe(true);
  });

  it('accepts a valid file and fills defaults', () => {
    const r = parseExperimentText(JSON.stringify(base()));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.experiment.seed).toBe(1);
      expect(r.experiment.variants[0]!.policies.merge).toBe('eager');
      expect(r.experiment.guest.vcpus).toBe(4);
    }
  });

  it('reports a truncated file with its line and column', () => {
    const text = JSON.stringify(base(), null, 2);
    const r = parseExperimentText(text.slice(0, text.length / 2));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('BAD_JSON');
      expect(r.problems[0]!.message).toMatch(/not valid JSON/);
    }
  });

  it('names the field of a wrong type', () => {
    const doc = base();
    (doc['guest'] as Record<string, unknown>)['memoryBytes'] = '4 GiB';
    const r = problemsOf(doc);
    expect(r.code).toBe('INVALID');
    expect(r.problems.map((p) => p.path)).toContain('guest.memoryBytes');
  });

  it('names unknown fields and says to remove them', () => {
    const doc = base();
    (doc['variants'] as Record<string, unknown>[])[1]!['allocater'] = 'cma';
    const r = problemsOf(doc);
    const p = r.problems.find((x) => x.path === 'variants[1]');
    expect(p?.message).toMatch(/unknown field "allocater"/);
  });

  it('refuses out-of-range and hostile values with their paths', () => {
    const doc = base();
    (doc['guest'] as Record<string, unknown>)['memoryBytes'] = 1e30;
    (doc['variants'] as Record<string, unknown>[])[0]!['policies'] = { mergeDelayNs: -5 };
    (doc['host'] as { nodes: Record<string, unknown>[] }).nodes[0]!['hugetlb1g'] = Number.NaN;
    const r = problemsOf(doc);
    const paths = r.problems.map((p) => p.path);
    expect(paths).toContain('guest.memoryBytes');
    expect(paths).toContain('variants[0].policies.mergeDelayNs');
    expect(paths).toContain('host.nodes[0].hugetlb1g');
    expect(formatProblems(r.problems, 'x.gmemlab.json')).toMatch(/^x\.gmemlab\.json: /);
  });

  it('refuses a file from a newer format version and says so', () => {
    const r = problemsOf({ ...base(), version: FORMAT_VERSION + 1 });
    expect(r.code).toBe('NEWER_VERSION');
    expect(r.problems[0]!.message).toMatch(/newer than this build/);
  });

  it('refuses documents that are not experiments', () => {
    expect(problemsOf([1, 2]).code).toBe('NOT_AN_EXPERIMENT');
    expect(problemsOf({ format: 'something-else' }).code).toBe('NOT_AN_EXPERIMENT');
  });

  it('needs at least two variants with unique names', () => {
    const doc = base();
    (doc['variants'] as unknown[]).pop();
    expect(problemsOf(doc).problems[0]!.path).toBe('variants');
    const dup = base();
    (dup['variants'] as Record<string, unknown>[])[1]!['name'] = 'kept';
    expect(problemsOf(dup).problems[0]!.message).toMatch(/unique/);
  });

  it('checks per-variant workload overrides against the workload schema', () => {
    const doc = base();
    (doc['variants'] as Record<string, unknown>[])[1]!['workloadOverrides'] = {
      pattern: 'sideways',
    };
    const r = problemsOf(doc);
    expect(r.problems[0]!.path).toBe('variants[1].workloadOverrides.pattern');
  });

  it('refuses a CMA variant on a host without a CMA area, and CMA areas that are not whole 1 GiB ranges', () => {
    const doc = base();
    (doc['variants'] as Record<string, unknown>[])[1]!['allocator'] = 'cma-raw';
    (doc['variants'] as Record<string, unknown>[])[1]!['pageSize'] = '1g';
    const r = problemsOf(doc);
    expect(r.problems.find((p) => p.path === 'variants[1].allocator')?.message).toMatch(
      /needs a CMA area/,
    );
    (doc['host'] as { nodes: Record<string, unknown>[] }).nodes[0]!['cma'] = {
      sizeBytes: 1.5 * GiB,
    };
    expect(problemsOf(doc).problems.map((p) => p.path)).toContain('host.nodes[0].cma.sizeBytes');
    (doc['host'] as { nodes: Record<string, unknown>[] }).nodes[0]!['cma'] = { sizeBytes: 2 * GiB };
    expect(parseExperimentValue(doc).ok).toBe(true);
  });

  // Version 1 files name the raw-CMA allocator "cma": they load, as cma-raw (its meaning then:
  // runtime cma_alloc() folios, no HVO), never as the HugeTLB pool of hugetlb_cma= pages.
  it('migrates a version 1 file, reading the old allocator name "cma" as cma-raw', () => {
    const doc: Record<string, unknown> = { ...base(), version: 1 };
    doc['host'] = { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', cma: { sizeBytes: 8 * GiB } }] };
    (doc['variants'] as Record<string, unknown>[])[1] = {
      name: 'old',
      pageSize: '1g',
      allocator: 'cma',
      faultPath: 'change-pte-removed',
    };
    const r = parseExperimentValue(doc);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.experiment.variants[1]!.allocator).toBe('cma-raw');
    if (r.ok) expect(r.migratedFrom).toBe(1);
    if (r.ok) expect(r.experiment.version).toBe(FORMAT_VERSION);
    // Version 2 never wrote "cma": there it is an unknown allocator, named as such.
    const v2 = parseExperimentValue({ ...doc, version: 2 });
    expect(v2.ok).toBe(false);
    if (!v2.ok) expect(v2.problems[0]!.path).toBe('variants[1].allocator');
    // The caller's document is not changed.
    expect((doc['variants'] as Record<string, unknown>[])[1]!['allocator']).toBe('cma');
  });

  it('accepts every allocator with the page sizes it can back, and names the page size otherwise', () => {
    for (const allocator of Object.keys(ALLOCATOR_PAGE_SIZES) as AllocatorKind[]) {
      for (const pageSize of ['4k', '2m', '1g'] as const) {
        const doc = base();
        doc['host'] = {
          nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 64, cma: { sizeBytes: GiB } }],
        };
        (doc['variants'] as Record<string, unknown>[])[1]!['allocator'] = allocator;
        (doc['variants'] as Record<string, unknown>[])[1]!['pageSize'] = pageSize;
        const r = parseExperimentValue(doc);
        const what = `${allocator} ${pageSize}`;
        if (ALLOCATOR_PAGE_SIZES[allocator].includes(pageSize)) {
          expect(r.ok, what).toBe(true);
        } else {
          expect(r.ok, what).toBe(false);
          if (r.ok) continue;
          const problem = r.problems.find((p) => p.path === 'variants[1].pageSize');
          expect(problem?.message, what).toContain(
            `cannot back ${pageSize} pages: use ${ALLOCATOR_PAGE_SIZES[allocator].join(' or ')}`,
          );
        }
      }
    }
  });

  it('refuses oversize text before parsing it', () => {
    const r = parseExperimentText(' '.repeat(17 * 1024 * 1024));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe('TOO_LARGE');
  });

  it('hashes what decides the results, not the name or notes', () => {
    const a = parseExperimentValue(base());
    const b = parseExperimentValue({ ...base(), name: 'renamed', notes: 'hello' });
    const c = parseExperimentValue({ ...base(), seed: 2 });
    if (!a.ok || !b.ok || !c.ok) throw new Error('parse');
    expect(configHash(a.experiment)).toBe(configHash(b.experiment));
    expect(configHash(a.experiment)).not.toBe(configHash(c.experiment));
  });
});
