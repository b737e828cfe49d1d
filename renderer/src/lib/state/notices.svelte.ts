// What the workbench tells the user about its actions: the message bar (an error, or a note such
// as "saved results are incomplete") and whether an action is under way. Every store runs its
// actions through `guard`, so a failure is said where the user looks, with the contract's
// details (which field, what is wrong) under its message.
import { ApiError } from '@contract/api';

export interface Banner {
  readonly kind: 'error' | 'info';
  readonly title: string;
  readonly message: string;
}

/** Lines of an error's details shown under its message; the rest would push the page down. */
const DETAIL_LINES = 12;

export class Notices {
  banner: Banner | null = $state(null);
  busy = $state(false);

  /** Run an action and show its error where the user looks; undefined when it failed. */
  async guard<T>(title: string, action: () => Promise<T>): Promise<T | undefined> {
    try {
      this.busy = true;
      return await action();
    } catch (err) {
      this.showError(title, err);
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  showError(title: string, err: unknown): void {
    let message = err instanceof Error ? err.message : String(err);
    if (err instanceof ApiError && Array.isArray(err.details)) {
      const lines = (err.details as Array<{ path?: string; message?: string }>)
        .slice(0, DETAIL_LINES)
        .map((d) => `${d.path ? `${d.path}: ` : ''}${d.message ?? ''}`);
      if (lines.length > 0 && !message.includes(lines[0]!)) message += '\n' + lines.join('\n');
    }
    this.error(title, message);
  }

  error(title: string, message: string): void {
    this.banner = { kind: 'error', title, message };
  }

  info(title: string, message: string): void {
    this.banner = { kind: 'info', title, message };
  }

  dismiss(): void {
    this.banner = null;
  }
}
