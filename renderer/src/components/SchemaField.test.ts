// The setup form is built from the core schema: fields, units, defaults and help come from it,
// edits go into the document, and problems show next to their field.
import { describe, expect, it } from 'vitest';
import { render } from 'vitest-browser-svelte';
import { flushSync } from 'svelte';
import SchemaField from './SchemaField.svelte';
import { reactive } from '../lib/test-state.svelte';
import { deref, experimentJsonSchema } from '../lib/schema/experiment-json-schema';

const root = experimentJsonSchema();

describe('SchemaField', () => {
  it('renders an enum as a select with the schema default and writes the choice', async () => {
    const doc = reactive({ pageSize: '2m', allocator: 'hugetlb', name: 'v' } as Record<
      string,
      unknown
    >);
    const variant = root.properties!['variants']!.items!;
    const screen = await render(SchemaField, {
      parent: doc,
      key: 'conversionModel',
      schema: variant.properties!['conversionModel']!,
      path: 'variants[0].conversionModel',
      problems: new Map(),
    });
    const select = screen.container.querySelector('select')!;
    expect(select.value).toBe('in-place');
    expect(screen.container.textContent).toMatch(
      /legacy: shared memory lives in a separate VMM backend/,
    );
    select.value = 'legacy';
    select.dispatchEvent(new Event('change', { bubbles: true }));
    expect(doc['conversionModel']).toBe('legacy');
  });

  it('reads sizes with units and shows the unit of plain numbers', async () => {
    const guest = reactive({ memoryBytes: 1024 ** 3 } as Record<string, unknown>);
    const screen = await render(SchemaField, {
      parent: guest,
      key: 'memoryBytes',
      schema: root.properties!['guest']!.properties!['memoryBytes']!,
      path: 'guest.memoryBytes',
      problems: new Map(),
    });
    const input = screen.container.querySelector('input')!;
    expect(input.value).toBe('1 GiB');
    input.value = '16 GiB';
    input.dispatchEvent(new Event('change', { bubbles: true }));
    expect(guest['memoryBytes']).toBe(16 * 1024 ** 3);
    const vcpus = await render(SchemaField, {
      parent: guest,
      key: 'vcpus',
      schema: root.properties!['guest']!.properties!['vcpus']!,
      path: 'guest.vcpus',
      problems: new Map(),
    });
    expect(vcpus.container.textContent).toContain('(count)');
    expect((vcpus.container.querySelector('input') as HTMLInputElement).placeholder).toBe('4');
  });

  it('shows a problem next to its field and marks the input invalid', async () => {
    const guest = reactive({ vcpus: -1 } as Record<string, unknown>);
    const screen = await render(SchemaField, {
      parent: guest,
      key: 'vcpus',
      schema: root.properties!['guest']!.properties!['vcpus']!,
      path: 'guest.vcpus',
      problems: new Map([['guest.vcpus', 'must be at least 1: give a larger value']]),
    });
    expect(screen.container.querySelector('[role="alert"]')!.textContent).toContain(
      'must be at least 1',
    );
    expect(screen.container.querySelector('input')!.getAttribute('aria-invalid')).toBe('true');
  });

  it("switches a workload kind and shows that kind's fields", async () => {
    const doc = reactive({ workload: { kind: 'lifecycle' } } as Record<string, unknown>);
    const screen = await render(SchemaField, {
      parent: doc,
      key: 'workload',
      schema: root.properties!['workload']!,
      path: 'workload',
      problems: new Map(),
    });
    expect(screen.container.textContent).toContain('reboots');
    const select = screen.container.querySelector('select')!;
    select.value = 'fault-path';
    select.dispatchEvent(new Event('change', { bubbles: true }));
    flushSync();
    // The new kind starts from its defaults.
    expect((doc['workload'] as Record<string, unknown>)['kind']).toBe('fault-path');
    expect((doc['workload'] as Record<string, unknown>)['touchedBytes']).toBe(64 * 1024 * 1024);
    expect(screen.container.textContent).toContain('touchedBytes');
  });

  // cma_alloc() latency figures with no located primary source are flagged assumptions in the
  // schema's metadata (core/constants.ts); the form says so in the field's help.
  it('marks the cma_alloc latency constants as assumptions in their help', async () => {
    const variant = root.properties!['variants']!.items!;
    const costs = deref(variant.properties!['costs']!, root);
    for (const key of ['cmaAlloc1GBaseMs', 'cmaPathologicalMs', 'cmaMigrateUsPerPage']) {
      const doc = reactive({} as Record<string, unknown>);
      const screen = await render(SchemaField, {
        parent: doc,
        key,
        schema: costs.properties![key]!,
        path: `variants[0].costs.${key}`,
        problems: new Map(),
      });
      expect(screen.container.textContent).toContain('(assumption: no public number behind it)');
      screen.unmount();
    }
  });

  it('shows a field of a variant with a base as inherited until changed, and resets it', async () => {
    const variant = root.properties!['variants']!.items!;
    const doc = reactive({
      name: 'CMA',
      base: 'HugeTLB',
      policies: { merge: 'eager', split: 'to-4k' },
    } as Record<string, unknown>);
    const screen = await render(SchemaField, {
      parent: doc,
      key: 'policies',
      schema: deref(variant).properties!['policies']!,
      path: 'variants[1].policies',
      problems: new Map(),
      inherited: { merge: 'eager', split: 'staged' },
      inheritedFrom: 'HugeTLB',
    });
    const field = (name: string) =>
      [...screen.container.querySelectorAll('.field')].find((f) =>
        f.querySelector('label')?.textContent?.startsWith(name),
      )!;
    expect(field('merge').classList.contains('inherited')).toBe(true);
    expect(field('merge').textContent).toContain('from HugeTLB');
    // split differs from the base's: not inherited, with a reset to the base's value.
    expect(field('split').classList.contains('inherited')).toBe(false);
    const reset = field('split').querySelector('button.reset') as HTMLButtonElement;
    expect(reset.textContent).toContain('reset to HugeTLB');
    reset.click();
    flushSync();
    expect((doc['policies'] as Record<string, unknown>)['split']).toBe('staged');
    expect(field('split').classList.contains('inherited')).toBe(true);
    // A change away from the base's value drops the mark.
    const merge = field('merge').querySelector('select')!;
    merge.value = 'never';
    merge.dispatchEvent(new Event('change', { bubbles: true }));
    flushSync();
    expect(field('merge').classList.contains('inherited')).toBe(false);
    expect(field('merge').querySelector('button.reset')).not.toBeNull();
  });
});
