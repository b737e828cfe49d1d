// The desktop app's menu, from one definition: MENU below is plain data (id, label, accelerator,
// and a role, a workbench command or a main-process action per item), and buildMenuTemplate turns
// it into Electron's MenuItemConstructorOptions with the click handlers of the bootstrap.
// Electron comes in only as types (Menu.buildFromTemplate is called in main/shell/index.ts), so all of it
// is tested without an Electron binary (menu.test.ts).
//
// Keyboard: the page sees a key first; the workbench handles Ctrl/Cmd+S, +Shift+S and +O itself
// (it does in a browser too) and stops them, so these accelerators act only from the menu there.
import type { MenuItemConstructorOptions } from 'electron';
import { THEMES, type MenuCommand, type Theme } from '@contract/api.js';
import type { DocumentId } from './documentation.js';

type Role = NonNullable<MenuItemConstructorOptions['role']>;

/** One item of the menu definition. Exactly one of role, command, action, theme, document,
 * submenu or recent, or a separator. */
export interface MenuItemDef {
  readonly id: string;
  readonly label?: string;
  readonly accelerator?: string;
  /** An Electron role (Edit, zoom, window and app items). */
  readonly role?: Role;
  /** A command for the workbench, sent as the 'menu.command' event. */
  readonly command?: MenuCommand;
  /** An action of the main process. */
  readonly action?: 'about';
  /** A theme choice (radio item). */
  readonly theme?: Theme;
  /** A document of the Help menu (documentation.ts). */
  readonly document?: DocumentId;
  readonly separator?: true;
  readonly submenu?: readonly MenuItemDef[];
  /** The recent files (the submenu is filled from the settings). */
  readonly recent?: true;
  /** Only in development (not in the packaged app). */
  readonly devOnly?: true;
  /** Only on these platforms. */
  readonly platforms?: readonly NodeJS.Platform[];
}

const MAC: readonly NodeJS.Platform[] = ['darwin'];
const NOT_MAC: readonly NodeJS.Platform[] = [
  'linux',
  'win32',
  'freebsd',
  'openbsd',
  'sunos',
  'aix',
];

/** The menu. */
/** The View > Theme items' labels, one for each theme. */
const THEME_LABELS: Readonly<Record<Theme, string>> = {
  system: '&System',
  light: '&Light',
  dark: '&Dark',
};

export const MENU: readonly MenuItemDef[] = [
  { id: 'app', role: 'appMenu', platforms: MAC },
  {
    id: 'file',
    label: '&File',
    submenu: [
      { id: 'file.new', label: '&New Experiment…', accelerator: 'CmdOrCtrl+N', command: 'new' },
      { id: 'file.open', label: '&Open…', accelerator: 'CmdOrCtrl+O', command: 'open' },
      { id: 'file.recent', label: 'Open &Recent', recent: true },
      { id: 'file.sep1', separator: true },
      { id: 'file.save', label: '&Save', accelerator: 'CmdOrCtrl+S', command: 'save' },
      {
        id: 'file.saveAs',
        label: 'Save &As…',
        accelerator: 'CmdOrCtrl+Shift+S',
        command: 'save-as',
      },
      { id: 'file.sep2', separator: true },
      {
        id: 'file.export',
        label: '&Export Comparison (zip)…',
        accelerator: 'CmdOrCtrl+E',
        command: 'export',
      },
      { id: 'file.sep3', separator: true },
      { id: 'file.close', role: 'close', platforms: MAC },
      { id: 'file.quit', label: '&Quit', role: 'quit', platforms: NOT_MAC },
    ],
  },
  {
    id: 'edit',
    label: '&Edit',
    submenu: [
      { id: 'edit.undo', role: 'undo' },
      { id: 'edit.redo', role: 'redo' },
      { id: 'edit.sep1', separator: true },
      { id: 'edit.cut', role: 'cut' },
      { id: 'edit.copy', role: 'copy' },
      { id: 'edit.paste', role: 'paste' },
      { id: 'edit.selectAll', role: 'selectAll' },
    ],
  },
  {
    id: 'view',
    label: '&View',
    submenu: [
      {
        id: 'view.theme',
        label: '&Theme',
        submenu: THEMES.map((theme) => ({
          id: `view.theme.${theme}`,
          label: THEME_LABELS[theme],
          theme,
        })),
      },
      { id: 'view.sep1', separator: true },
      { id: 'view.resetZoom', role: 'resetZoom', accelerator: 'CmdOrCtrl+0' },
      { id: 'view.zoomIn', role: 'zoomIn', accelerator: 'CmdOrCtrl+=' },
      { id: 'view.zoomOut', role: 'zoomOut', accelerator: 'CmdOrCtrl+-' },
      { id: 'view.sep2', separator: true },
      { id: 'view.fullScreen', role: 'togglefullscreen' },
      { id: 'view.sep3', separator: true, devOnly: true },
      { id: 'view.reload', role: 'reload', devOnly: true },
      {
        id: 'view.devTools',
        role: 'toggleDevTools',
        accelerator: 'CmdOrCtrl+Shift+I',
        devOnly: true,
      },
    ],
  },
  { id: 'window', role: 'windowMenu' },
  {
    id: 'help',
    label: '&Help',
    role: 'help',
    submenu: [
      { id: 'help.guide', label: 'gmem-lab &Guide (README)', document: 'guide' },
      { id: 'help.format', label: '&Experiment File Format', document: 'experiment-format' },
      { id: 'help.traces', label: '&Trace Formats', document: 'trace-format' },
      { id: 'help.guest', label: 'How gmem-lab Models the &Guest', document: 'guest-model' },
      { id: 'help.kvm', label: 'KVM API Documentation (kernel.org)', document: 'kvm-api' },
      { id: 'help.sep1', separator: true, platforms: NOT_MAC },
      { id: 'help.about', label: '&About gmem-lab', action: 'about', platforms: NOT_MAC },
    ],
  },
];

export interface MenuContext {
  readonly platform: NodeJS.Platform;
  /** Development build (not packaged): dev tools and reload are in the menu. */
  readonly isDev: boolean;
  readonly recentFiles: readonly string[];
  readonly theme: Theme;
}

export interface MenuHandlers {
  /** Send a command to the workbench. */
  command(command: MenuCommand): void;
  openRecent(path: string): void;
  setTheme(theme: Theme): void;
  openDocument(id: DocumentId): void;
  about(): void;
}

/** How many recent files the Open Recent submenu lists. */
export const RECENT_IN_MENU = 10;

/** Whether an item of the definition is part of the menu in this context. */
export function isShown(item: MenuItemDef, context: MenuContext): boolean {
  if (item.devOnly && !context.isDev) return false;
  if (item.platforms && !item.platforms.includes(context.platform)) return false;
  return true;
}

/** Electron's template of the menu definition, with the handlers wired to the items. */
export function buildMenuTemplate(
  definition: readonly MenuItemDef[],
  handlers: MenuHandlers,
  context: MenuContext,
): MenuItemConstructorOptions[] {
  return definition.filter((item) => isShown(item, context)).map((item) => toTemplate(item));

  function toTemplate(item: MenuItemDef): MenuItemConstructorOptions {
    const base: MenuItemConstructorOptions = { id: item.id };
    if (item.label !== undefined) base.label = item.label;
    if (item.accelerator !== undefined) base.accelerator = item.accelerator;
    if (item.separator) return { ...base, type: 'separator' };
    if (item.role !== undefined) base.role = item.role;
    if (item.recent) return { ...base, submenu: recentSubmenu(item.id, context.recentFiles) };
    if (item.submenu) {
      return {
        ...base,
        submenu: buildMenuTemplate(item.submenu, handlers, context),
      };
    }
    const { command, action, theme, document } = item;
    if (command !== undefined) return { ...base, click: () => handlers.command(command) };
    if (theme !== undefined) {
      return {
        ...base,
        type: 'radio',
        checked: context.theme === theme,
        click: () => handlers.setTheme(theme),
      };
    }
    if (document !== undefined) return { ...base, click: () => handlers.openDocument(document) };
    if (action === 'about') return { ...base, click: () => handlers.about() };
    return base;
  }

  function recentSubmenu(id: string, files: readonly string[]): MenuItemConstructorOptions[] {
    const shown = files.slice(0, RECENT_IN_MENU);
    if (shown.length === 0) return [{ id: `${id}.none`, label: 'No Recent Files', enabled: false }];
    return shown.map((path, i) => ({
      id: `${id}.${i}`,
      label: menuLabel(recentLabel(path)),
      toolTip: path,
      click: () => handlers.openRecent(path),
    }));
  }
}

/** `name.gmemlab.json — /the/folder`: the name first, the folder to tell same names apart. */
export function recentLabel(path: string): string {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  if (cut < 0) return path;
  return `${path.slice(cut + 1)} — ${path.slice(0, cut) || path.slice(0, 1)}`;
}

/** A label shown as it is: `&` marks the access key in menu labels, `&&` is a literal `&`. */
export function menuLabel(text: string): string {
  return text.replace(/&/g, '&&');
}

/** Every item of a definition, depth first, with the ids of its parents. */
export function* walkMenu(
  definition: readonly MenuItemDef[],
  parents: readonly string[] = [],
): Generator<{ item: MenuItemDef; parents: readonly string[] }> {
  for (const item of definition) {
    yield { item, parents };
    if (item.submenu) yield* walkMenu(item.submenu, [...parents, item.id]);
  }
}
