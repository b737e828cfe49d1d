// The documents of the Help menu: a fixed table, never a path or URL from elsewhere. Local files
// open in the system's default application (shell.openPath); web pages in the default browser
// (shell.openExternal), and only https pages on the hosts allowed below. Electron's shell comes in
// as a parameter, so this is tested without Electron.
import { join } from 'node:path';

export type DocumentId = 'guide' | 'experiment-format' | 'trace-format' | 'guest-model' | 'kvm-api';

type DocumentTarget =
  /** A file of the docs folder: docs/ in a checkout, <resources>/docs in the packaged app. */
  { readonly kind: 'file'; readonly name: string } | { readonly kind: 'web'; readonly url: string };

export const DOCUMENTS: Readonly<Record<DocumentId, DocumentTarget>> = {
  guide: { kind: 'file', name: 'README.md' },
  'experiment-format': { kind: 'file', name: 'experiment-format.md' },
  'trace-format': { kind: 'file', name: 'trace-format.md' },
  'guest-model': { kind: 'file', name: 'guest-model.md' },
  'kvm-api': { kind: 'web', url: 'https://docs.kernel.org/virt/kvm/api.html' },
};

/** Hosts the Help menu may open in the browser (https only). */
const ALLOWED_WEB_HOSTS: ReadonlySet<string> = new Set(['docs.kernel.org']);

export function isAllowedWebUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return (
    u.protocol === 'https:' &&
    ALLOWED_WEB_HOSTS.has(u.hostname) &&
    u.username === '' &&
    u.password === '' &&
    u.port === ''
  );
}

export interface DocumentLocations {
  /** The packaged app's docs folder (<resources>/docs), when packaged. */
  readonly packagedDocsDir?: string;
  /** The checkout: README.md at its root, the rest in docs/. */
  readonly checkoutDir: string;
}

/** Where a local document is. */
export function documentFile(name: string, where: DocumentLocations): string {
  if (where.packagedDocsDir) return join(where.packagedDocsDir, name);
  return name === 'README.md'
    ? join(where.checkoutDir, name)
    : join(where.checkoutDir, 'docs', name);
}

export interface DocumentShell {
  openPath(path: string): Promise<string>;
  openExternal(url: string): Promise<void>;
}

/** Open a document of the table; resolves to an error message, or '' when it opened. */
export async function openDocument(
  id: DocumentId,
  shell: DocumentShell,
  where: DocumentLocations,
): Promise<string> {
  const target = DOCUMENTS[id];
  if (!target) return `unknown document ${String(id)}`;
  if (target.kind === 'web') {
    if (!isAllowedWebUrl(target.url)) return `${target.url} is not an allowed documentation page`;
    try {
      await shell.openExternal(target.url);
      return '';
    } catch (err) {
      return `cannot open ${target.url}: ${(err as Error).message}`;
    }
  }
  const path = documentFile(target.name, where);
  const problem = await shell.openPath(path);
  return problem ? `cannot open ${path}: ${problem}` : '';
}
