// Test fixtures: traces written the way the tools that record them write them, for tests in core,
// the CLI and the services (excluded from the core build, like sim/test-helpers.ts).
import { utf8Encode } from '../utf8.js';

export type Arg = bigint | string;
export interface SimpleEvent {
  readonly name: string;
  readonly timestampNs: bigint;
  readonly args: readonly Arg[];
}

/** A writer of QEMU simple-backend files, version 4, as trace/simple.c lays them out. */
export class SimpleWriter {
  private parts: Uint8Array[] = [];
  private ids = new Map<string, bigint>();
  constructor(
    private readonly littleEndian = true,
    version = 4n,
  ) {
    this.u64(0xffffffffffffffffn).u64(0xf2b177cb0aa429b4n).u64(version);
  }

  u64(v: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, this.littleEndian);
    this.parts.push(b);
    return this;
  }

  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, this.littleEndian);
    this.parts.push(b);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }

  /** st_write_event_mapping(): one mapping record per event. */
  mapping(name: string, id: bigint): this {
    this.ids.set(name, id);
    const n = utf8Encode(name);
    return this.u64(0n).u64(id).u32(n.length).bytes(n);
  }

  /** An event record: TraceRecord header, then trace_record_write_u64 / _str per argument. */
  event(e: SimpleEvent, id = this.ids.get(e.name)!): this {
    const args = e.args.map((a) => (typeof a === 'string' ? utf8Encode(a) : a));
    const argBytes = args.reduce<number>(
      (n, a) => n + (typeof a === 'bigint' ? 8 : 4 + a.length),
      0,
    );
    this.u64(1n)
      .u64(id)
      .u64(e.timestampNs)
      .u32(24 + argBytes)
      .u32(4242);
    for (const a of args) {
      if (typeof a === 'bigint') this.u64(a);
      else this.u32(a.length).bytes(a);
    }
    return this;
  }

  convert(timestampNs: bigint, start: bigint, size: bigint, msg: string): this {
    return this.event({ name: 'kvm_convert_memory', timestampNs, args: [start, size, msg] });
  }

  dropped(timestampNs: bigint, count: bigint): this {
    return this.u64(1n).u64(0xfffffffffffffffen).u64(timestampNs).u32(32).u32(4242).u64(count);
  }

  build(): Uint8Array {
    const total = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
