import { describe, expect, it } from 'vitest';
import { render } from 'vitest-browser-svelte';
import ParamTable from './ParamTable.svelte';

describe('ParamTable', () => {
  const variants = [
    {
      name: 'eager',
      pageSize: '2m',
      allocator: 'hugetlb',
      policies: { merge: 'eager', split: 'to-4k' },
    },
    {
      name: 'never',
      pageSize: '2m',
      allocator: 'hugetlb',
      policies: { merge: 'never', split: 'to-4k' },
    },
  ];

  it('shows only what differs by default, and everything on request', async () => {
    const screen = await render(ParamTable, { variants });
    const keys = () =>
      [...screen.container.querySelectorAll('tbody th code')].map((c) => c.textContent);
    expect(keys()).toEqual(['policies.merge']);
    expect(screen.container.querySelector('thead')!.textContent).toContain('never');
    await screen.getByLabelText('only what differs').click();
    expect(keys()).toEqual(
      expect.arrayContaining(['pageSize', 'allocator', 'policies.merge', 'policies.split']),
    );
  });
});
