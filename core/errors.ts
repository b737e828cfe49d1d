// Errors the model reports, named by the errno the kernel would return.

export type Errno =
  'EAGAIN' | 'ENOMEM' | 'ENOSPC' | 'EINVAL' | 'EBUSY' | 'EPERM' | 'EFAULT' | 'ENODEV' | 'EHWPOISON';

/** A failed kernel operation inside the simulation (not a bug in the simulator). */
export class KernelError extends Error {
  constructor(
    readonly errno: Errno,
    message: string,
    /** Byte offset in the guest_memfd file where the operation failed, when there is one. */
    readonly offset?: number,
  ) {
    super(`${errno}: ${message}`);
    this.name = 'KernelError';
  }
}

/** A configuration or input error a user can fix; `path` names the field. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'ConfigError';
  }
}
