// The menu is built from its one definition: every item shown in a context is in the template,
// with its id, label, accelerator and role, and every click reaches its handler.
import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { MENU_COMMANDS, type MenuCommand } from '@contract/api.js';
import { DOCUMENTS, type DocumentId } from './documentation.js';
import {
  buildMenuTemplate,
  isShown,
  MENU,
  menuLabel,
  RECENT_IN_MENU,
  recentLabel,
  walkMenu,
  type MenuContext,
  type MenuHandlers,
} from './menu.js';
import type { Theme } from '@contract/api.js';

type Call =
  | ['command', MenuCommand]
  | ['openRecent', string]
  | ['setTheme', Theme]
  | ['openDocument', DocumentId]
  | ['about'];

function recorder(): { handlers: MenuHandlers; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    handlers: {
      command: (c) => calls.push(['command', c]),
      openRecent: (p) => calls.push(['openRecent', p]),
      setTheme: (t) => calls.push(['setTheme', t]),
      openDocument: (d) => calls.push(['openDocument', d]),
      about: () => calls.push(['about']),
    },
  };
}

const CONTEXTS: MenuContext[] = (['linux', 'win32', 'darwin'] as const).flatMap((platform) =>
  [false, true].map((isDev) => ({
    platform,
    isDev,
    recentFiles: ['/w/a.gmemlab.json', '/w/R&D.gmemlab.json'],
    theme: 'dark' as const,
  })),
);

/** Every item of a template by id, depth first. */
function templateItems(
  template: readonly MenuItemConstructorOptions[],
): Map<string, MenuItemConstructorOptions> {
  const out = new Map<string, MenuItemConstructorOptions>();
  const walk = (items: readonly MenuItemConstructorOptions[]) => {
    for (const item of items) {
      expect(item.id, `every template item has an id: ${JSON.stringify(item)}`).toBeTruthy();
      expect(out.has(item.id!), `duplicate id ${item.id}`).toBe(false);
      out.set(item.id!, item);
      if (Array.isArray(item.submenu)) walk(item.submenu);
    }
  };
  walk(template);
  return out;
}

function click(item: MenuItemConstructorOptions | undefined): void {
  expect(item?.click, `${item?.id} is clickable`).toBeTypeOf('function');
  (item!.click as () => void)();
}

describe('the menu definition', () => {
  it('has unique ids, and one kind per item', () => {
    const ids = [...walkMenu(MENU)].map(({ item }) => item.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { item } of walkMenu(MENU)) {
      const kinds = [
        item.command,
        item.action,
        item.theme,
        item.document,
        item.separator,
        item.recent,
        item.submenu,
      ].filter((k) => k !== undefined);
      if (item.role !== undefined) {
        // A role may carry a submenu of its own (Help), nothing else.
        expect(
          kinds.filter((k) => k !== item.submenu),
          item.id,
        ).toEqual([]);
      } else {
        expect(kinds, item.id).toHaveLength(1);
      }
      if (!item.separator && item.role === undefined) expect(item.label, item.id).toBeTruthy();
    }
  });

  it('sends only commands of the contract, and every menu command but save-then-close', () => {
    const commands = [...walkMenu(MENU)].flatMap(({ item }) =>
      item.command ? [item.command] : [],
    );
    for (const c of commands) expect(MENU_COMMANDS).toContain(c);
    expect(new Set(commands)).toEqual(
      new Set(MENU_COMMANDS.filter((c) => c !== 'save-then-close')),
    );
  });

  it('opens only documents of the documentation table', () => {
    for (const { item } of walkMenu(MENU))
      if (item.document) expect(Object.keys(DOCUMENTS)).toContain(item.document);
  });

  it('has the File, Edit, View and Help items the workbench promises', () => {
    const ids = new Set([...walkMenu(MENU)].map(({ item }) => item.id));
    for (const id of [
      'file.new',
      'file.open',
      'file.recent',
      'file.save',
      'file.saveAs',
      'file.export',
      'edit.undo',
      'edit.copy',
      'edit.paste',
      'view.theme.light',
      'view.theme.dark',
      'view.theme.system',
      'view.zoomIn',
      'view.zoomOut',
      'view.resetZoom',
      'view.devTools',
      'help.guide',
      'help.about',
    ])
      expect(ids).toContain(id);
  });
});

describe('buildMenuTemplate', () => {
  it.each(CONTEXTS.map((c) => [`${c.platform}${c.isDev ? ' dev' : ''}`, c] as const))(
    '%s: every shown definition item is in the template with its label, accelerator and role',
    (_name, context) => {
      const { handlers } = recorder();
      const items = templateItems(buildMenuTemplate(MENU, handlers, context));
      for (const { item, parents } of walkMenu(MENU)) {
        const shown = isShown(item, context) && parents.every((p) => items.has(p));
        const built = items.get(item.id);
        if (!shown) {
          expect(built, `${item.id} is not shown on ${context.platform}`).toBeUndefined();
          continue;
        }
        expect(built, item.id).toBeDefined();
        expect(built!.label).toBe(item.label);
        expect(built!.accelerator).toBe(item.accelerator);
        expect(built!.role).toBe(item.role);
        if (item.separator) expect(built!.type).toBe('separator');
      }
    },
  );

  it('has no accelerator twice', () => {
    for (const context of CONTEXTS) {
      const items = templateItems(buildMenuTemplate(MENU, recorder().handlers, context));
      const accelerators = [...items.values()].flatMap((i) =>
        i.accelerator ? [String(i.accelerator)] : [],
      );
      expect(new Set(accelerators).size).toBe(accelerators.length);
    }
  });

  it('dispatches every command, theme, document and action click to its handler', () => {
    const { handlers, calls } = recorder();
    const context = CONTEXTS.find((c) => c.platform === 'linux' && !c.isDev)!;
    const items = templateItems(buildMenuTemplate(MENU, handlers, context));
    const expected: Call[] = [];
    for (const { item } of walkMenu(MENU)) {
      if (!items.has(item.id)) continue;
      if (item.command) expected.push(['command', item.command]);
      else if (item.theme) expected.push(['setTheme', item.theme]);
      else if (item.document) expected.push(['openDocument', item.document]);
      else if (item.action === 'about') expected.push(['about']);
      else continue;
      click(items.get(item.id));
    }
    expect(calls).toEqual(expected);
    expect(calls).toContainEqual(['command', 'save']);
    expect(calls).toContainEqual(['command', 'export']);
  });

  it('checks the current theme', () => {
    const items = templateItems(
      buildMenuTemplate(MENU, recorder().handlers, { ...CONTEXTS[0]!, theme: 'light' }),
    );
    expect(items.get('view.theme.light')).toMatchObject({ type: 'radio', checked: true });
    expect(items.get('view.theme.dark')).toMatchObject({ type: 'radio', checked: false });
    expect(items.get('view.theme.system')).toMatchObject({ type: 'radio', checked: false });
  });

  it('fills Open Recent from the recent files, escaping & in labels', () => {
    const { handlers, calls } = recorder();
    const items = templateItems(buildMenuTemplate(MENU, handlers, CONTEXTS[0]!));
    expect(items.get('file.recent.0')).toMatchObject({
      label: 'a.gmemlab.json — /w',
      toolTip: '/w/a.gmemlab.json',
    });
    expect(items.get('file.recent.1')!.label).toBe('R&&D.gmemlab.json — /w');
    click(items.get('file.recent.1'));
    expect(calls).toEqual([['openRecent', '/w/R&D.gmemlab.json']]);
  });

  it(`lists at most ${RECENT_IN_MENU} recent files, and says when there are none`, () => {
    const many = Array.from({ length: 25 }, (_, i) => `/w/e${i}.gmemlab.json`);
    const full = templateItems(
      buildMenuTemplate(MENU, recorder().handlers, { ...CONTEXTS[0]!, recentFiles: many }),
    );
    const recent = full.get('file.recent')!.submenu as MenuItemConstructorOptions[];
    expect(recent).toHaveLength(RECENT_IN_MENU);
    const none = templateItems(
      buildMenuTemplate(MENU, recorder().handlers, { ...CONTEXTS[0]!, recentFiles: [] }),
    );
    expect(none.get('file.recent.none')).toMatchObject({ enabled: false });
  });

  it('has dev tools and reload only in development', () => {
    const [prod, dev] = [false, true].map((isDev) =>
      templateItems(buildMenuTemplate(MENU, recorder().handlers, { ...CONTEXTS[0]!, isDev })),
    );
    expect(prod!.has('view.devTools')).toBe(false);
    expect(prod!.has('view.reload')).toBe(false);
    expect(dev!.get('view.devTools')).toMatchObject({
      role: 'toggleDevTools',
      accelerator: 'CmdOrCtrl+Shift+I',
    });
  });

  it('puts the app menu first on macOS only, and About in Help elsewhere', () => {
    const mac = buildMenuTemplate(MENU, recorder().handlers, {
      ...CONTEXTS[0]!,
      platform: 'darwin',
    });
    const linux = buildMenuTemplate(MENU, recorder().handlers, CONTEXTS[0]!);
    expect(mac[0]).toMatchObject({ id: 'app', role: 'appMenu' });
    expect(linux[0]).toMatchObject({ id: 'file' });
    expect(templateItems(mac).has('help.about')).toBe(false);
    expect(templateItems(linux).has('help.about')).toBe(true);
    expect(templateItems(mac).has('file.quit')).toBe(false);
    expect(templateItems(linux).get('file.quit')).toMatchObject({ role: 'quit' });
  });
});

describe('labels', () => {
  it('recentLabel puts the name first', () => {
    expect(recentLabel('/home/u/lab/a.gmemlab.json')).toBe('a.gmemlab.json — /home/u/lab');
    expect(recentLabel('C:\\lab\\a.gmemlab.json')).toBe('a.gmemlab.json — C:\\lab');
    expect(recentLabel('/a.gmemlab.json')).toBe('a.gmemlab.json — /');
  });

  it('menuLabel doubles &', () => {
    expect(menuLabel('R&D && more')).toBe('R&&D &&&& more');
  });
});
