// Traces recorded on a real host without gmem-lab's own formats: QEMU's simple-backend binary file
// (trace/simple.c, scripts/simpletrace.py) and perf script / trace-cmd report text of the KVM
// conversion tracepoints (arch/x86/kvm/trace.h). Each fixture is made here, byte for byte or line
// for line as the tool writes it, and must give the same conversions as the QEMU log of the same
// requests.
import { describe, expect, it } from 'vitest';
import { GiB, MiB } from '../units.js';
import { utf8Encode } from '../utf8.js';
import { SimpleWriter } from './test-traces.js';
import {
  bytesSource,
  MAX_REPORTED_ERRORS,
  parseTrace,
  scanTrace,
  textSource,
  type TraceOp,
  type TraceSource,
} from './trace.js';

/** A QEMU with kvm_convert_memory and two other events enabled, the way a real boot logs them. */
function bootTrace(littleEndian = true): Uint8Array {
  return new SimpleWriter(littleEndian)
    .mapping('kvm_set_user_memory', 7n)
    .mapping('kvm_convert_memory', 12n)
    .mapping('kvm_run_exit', 3n)
    .event({
      name: 'kvm_set_user_memory',
      timestampNs: 1_000n,
      args: [0n, 0n, 0x4n, 0n, 0x80000000n, 0x7f0000000000n, 25n, 0n, 0n],
    })
    .convert(5_000_000_000n, 0x80000000n, 0x200000n, 'shared_to_private')
    .event({ name: 'kvm_run_exit', timestampNs: 5_000_000_100n, args: [0n, 2n] })
    .convert(5_000_500_000n, 0x100000000n, 0x1000n, 'private_to_shared')
    .convert(5_200_000_000n, 0x100000000n, 0x1000n, 'shared_to_private')
    .build();
}

/** The same three requests as QEMU's log backend prints them. */
const BOOT_LOG =
  '4242@1699999999.000000:kvm_convert_memory start 0x80000000 size 0x200000 shared_to_private\n' +
  '4242@1699999999.000500:kvm_convert_memory start 0x100000000 size 0x1000 private_to_shared\n' +
  '4242@1699999999.200000:kvm_convert_memory start 0x100000000 size 0x1000 shared_to_private\n';

function opsOf(source: TraceSource, format: Parameters<typeof scanTrace>[1] = 'auto') {
  const ops: TraceOp[] = [];
  const r = scanTrace(source, format, { onOp: (op) => ops.push(op) });
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}: ${e.message}`).join('\n'));
  return { ops, result: r };
}

function errorsOf(source: TraceSource, format: Parameters<typeof scanTrace>[1] = 'auto') {
  const r = scanTrace(source, format);
  if (r.ok) throw new Error(`expected errors, got ${r.ops} operations`);
  return r.errors;
}

/** What replay sees of an operation: everything but the line it came from. */
const essence = (ops: readonly TraceOp[]) => ops.map(({ line: _line, ...rest }) => rest);

describe('QEMU simple trace backend (trace/simple.c, version 4)', () => {
  it('reads kvm_convert_memory records as conversions, skipping other events by their length', () => {
    const { ops, result } = opsOf(bytesSource(bootTrace(), 'trace-4242'));
    expect(result).toMatchObject({ ok: true, format: 'qemu-simple', ops: 3, lines: 8 });
    // 3 mapping records and 2 other events carry no conversion.
    expect(result.ok && result.skippedLines).toBe(5);
    expect(ops.map((o) => o.line)).toEqual([5, 7, 8]);
    expect(essence(ops)).toEqual(essence(opsFromLog()));
  });

  it('gives the same operations for any chunk size the file is read in', () => {
    const bytes = bootTrace();
    const whole = opsOf(bytesSource(bytes, 't')).ops;
    for (const chunk of [1, 2, 3, 7, 8, 23, 24, 25, 31, 64, 100]) {
      expect(opsOf(bytesSource(bytes, 't', chunk)).ops, `chunk ${chunk}`).toEqual(whole);
    }
  });

  it('reads a file written on a big-endian host', () => {
    expect(opsOf(bytesSource(bootTrace(false), 't')).ops).toEqual(
      opsOf(bytesSource(bootTrace(true), 't')).ops,
    );
  });

  it('is told by its header whatever the file is called, and read when named explicitly', () => {
    const bytes = bootTrace();
    for (const name of ['trace-4242', 'boot.log', 'boot.csv']) {
      const r = scanTrace(bytesSource(bytes, name), 'auto');
      expect(r.ok && r.format, name).toBe('qemu-simple');
    }
    expect(opsOf(bytesSource(bytes, 'x'), 'qemu-simple').ops).toHaveLength(3);
  });

  it('refuses a file that is not a version 4 trace, saying what it found', () => {
    const notSimple = errorsOf(
      bytesSource(utf8Encode('kvm_convert_memory start 0x0\n'), 'x'),
      'qemu-simple',
    );
    expect(notSimple[0]!.message).toContain('does not start with its header');
    const v3 = errorsOf(bytesSource(new SimpleWriter(true, 3n).build(), 'x'));
    expect(v3[0]!.message).toContain('version 3: only version 4');
    const short = errorsOf(bytesSource(new Uint8Array(10), 'x'), 'qemu-simple');
    expect(short[0]!.message).toContain('shorter than the 24-byte header');
  });

  it('reports a file cut short inside a record, with its record number and offset', () => {
    const bytes = bootTrace();
    const errors = errorsOf(bytesSource(bytes.subarray(0, bytes.length - 5), 't'));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.line).toBe(8);
    expect(errors[0]!.message).toMatch(/^record at byte 0x[0-9a-f]+ is cut short/);
  });

  it('reports events QEMU dropped: the trace misses conversions', () => {
    const bytes = new SimpleWriter()
      .mapping('kvm_convert_memory', 1n)
      .convert(10n, 0x0n, 0x1000n, 'private_to_shared')
      .dropped(20n, 17n)
      .convert(30n, 0x1000n, 0x1000n, 'private_to_shared')
      .build();
    const errors = errorsOf(bytesSource(bytes, 't'));
    expect(errors.map((e) => e.line)).toEqual([3]);
    expect(errors[0]!.message).toContain('QEMU dropped 17 event(s)');
  });

  it('reports every bad conversion record and goes on to the next', () => {
    const w = new SimpleWriter().mapping('kvm_convert_memory', 1n);
    for (let i = 0; i < MAX_REPORTED_ERRORS + 5; i++)
      w.convert(BigInt(i), BigInt(i * 4096 + 1), 0x1000n, 'private_to_shared');
    w.convert(1000n, 0x0n, 0x1000n, 'sideways');
    const errors = errorsOf(bytesSource(w.build(), 't'));
    expect(errors).toHaveLength(MAX_REPORTED_ERRORS + 1);
    expect(errors[0]!.message).toContain('start 0x1 is not 4 KiB aligned');
    expect(errors[0]!.line).toBe(2);
    expect(errors.at(-1)!.message).toContain('and 6 more bad line(s)');
  });

  it('reports an event id no mapping record names, and a damaged record length', () => {
    const unknown = new SimpleWriter()
      .mapping('kvm_convert_memory', 1n)
      .event({ name: 'x', timestampNs: 0n, args: [0n, 0x1000n, 'private_to_shared'] }, 99n)
      .build();
    expect(errorsOf(bytesSource(unknown, 't'))[0]!.message).toContain('event id 99');
    const damaged = new SimpleWriter()
      .mapping('kvm_convert_memory', 1n)
      .u64(1n)
      .u64(1n)
      .u64(0n)
      .u32(3)
      .u32(0)
      .build();
    expect(errorsOf(bytesSource(damaged, 't'))[0]!.message).toContain(
      'gives its length as 3 bytes',
    );
    const badType = new SimpleWriter().u64(5n).build();
    expect(errorsOf(bytesSource(badType, 't'))[0]!.message).toContain('has type 5');
  });

  it('says when kvm_convert_memory was not enabled', () => {
    const bytes = new SimpleWriter()
      .mapping('kvm_run_exit', 3n)
      .event({ name: 'kvm_run_exit', timestampNs: 1n, args: [0n, 2n] })
      .build();
    expect(errorsOf(bytesSource(bytes, 't'))[0]!.message).toContain('does not name it');
  });
});

function opsFromLog(): TraceOp[] {
  const r = parseTrace(BOOT_LOG, 'qemu', 'x.log');
  if (!r.ok) throw new Error('the log does not parse');
  return r.ops;
}

// ---------------------------------------------------------------------------------------------
// perf script / trace-cmd report text of the KVM tracepoints.

/** GHCB_MSR_PSC_REQ_GFN(gfn, op) of arch/x86/include/asm/sev-common.h. */
function pscMsr(gfn: bigint, op: bigint): string {
  return ((op << 52n) | (gfn << 12n) | 0x014n).toString(16).padStart(16, '0');
}

const PERF_SCRIPT = [
  // KVM_HC_MAP_GPA_RANGE (12): a0 GPA, a1 4 KiB pages, a2 bit 4 encrypted.
  '       CPU 0/KVM  4243 [003]  5123.000000: kvm:kvm_hypercall: nr 0xc a0 0x80000000 a1 0x200 a2 0x10 a3 0x0',
  '       CPU 0/KVM  4243 [003]  5123.000400: kvm:kvm_exit: reason VMMCALL rip 0xffffffff81001234 info 0 0',
  '       CPU 1/KVM  4244 [001]  5123.000500: kvm:kvm_hypercall: nr 0xc a0 0x100000000 a1 0x1 a2 0x0 a3 0x0',
  // KVM_HC_KICK_CPU (5): not a conversion.
  '       CPU 1/KVM  4244 [001]  5123.100000: kvm:kvm_hypercall: nr 0x5 a0 0x0 a1 0x1 a2 0x0 a3 0x0',
  '       CPU 1/KVM  4244 [001]  5123.200000: kvm:kvm_hypercall: nr 0xc a0 0x100000000 a1 0x1 a2 0x10 a3 0x0',
].join('\n');

const TRACE_CMD_REPORT = [
  'cpus=8',
  '       CPU 0/KVM-4243  [003] d..1.  5123.000000000: kvm_vmgexit_msr_protocol_enter: vcpu 0, ghcb_gpa ' +
    pscMsr(0x80000n, 1n),
  // CPUID request (GHCB_MSR_CPUID_REQ 0x004): not a page-state change.
  '       CPU 0/KVM-4243  [003] d..1.  5123.000100000: kvm_vmgexit_msr_protocol_enter: vcpu 0, ghcb_gpa 8000000100000004',
  '       CPU 1/KVM-4244  [001] d..1.  5123.000500000: kvm_vmgexit_msr_protocol_enter: vcpu 1, ghcb_gpa ' +
    pscMsr(0x100000n, 2n),
  // PSMASH (3): RMP only, snp_begin_psc_msr() refuses it.
  '       CPU 1/KVM-4244  [001] d..1.  5123.100000000: kvm_vmgexit_msr_protocol_enter: vcpu 1, ghcb_gpa ' +
    pscMsr(0x100000n, 3n),
  '       CPU 1/KVM-4244  [001] d..1.  5123.200000000: kvm_vmgexit_msr_protocol_enter: vcpu 1, ghcb_gpa ' +
    pscMsr(0x100000n, 1n),
  'CPU 5 is empty',
].join('\n');

describe('perf script / trace-cmd report text of the KVM conversion tracepoints', () => {
  it('reads KVM_HC_MAP_GPA_RANGE hypercalls as conversions, skipping other hypercalls and events', () => {
    const r = parseTrace(PERF_SCRIPT, 'auto', 'perf.txt');
    expect(r.ok && r.format).toBe('tracepoint');
    if (!r.ok) return;
    expect(r.skippedLines).toBe(2);
    expect(essence(r.ops)).toEqual([
      { op: 'convert', timeNs: 0, space: 'gpa', address: 0x80000000, size: 2 * MiB, to: 'private' },
      { op: 'convert', timeNs: 500_000, space: 'gpa', address: 4 * GiB, size: 4096, to: 'shared' },
      {
        op: 'convert',
        timeNs: 200_000_000,
        space: 'gpa',
        address: 4 * GiB,
        size: 4096,
        to: 'private',
      },
    ]);
  });

  it('reads SNP page-state changes of the GHCB MSR protocol, one 4 KiB page each', () => {
    const r = parseTrace(TRACE_CMD_REPORT, 'auto', 'report.txt');
    expect(r.ok && r.format).toBe('tracepoint');
    if (!r.ok) return;
    expect(r.skippedLines).toBe(4);
    expect(essence(r.ops)).toEqual([
      { op: 'convert', timeNs: 0, space: 'gpa', address: 0x80000000, size: 4096, to: 'private' },
      { op: 'convert', timeNs: 500_000, space: 'gpa', address: 4 * GiB, size: 4096, to: 'shared' },
      {
        op: 'convert',
        timeNs: 200_000_000,
        space: 'gpa',
        address: 4 * GiB,
        size: 4096,
        to: 'private',
      },
    ]);
  });

  it('skips the requests KVM refuses before any exit: an unaligned GPA or no pages', () => {
    const r = parseTrace(
      [
        '  q 1 [000] 1.000000: kvm:kvm_hypercall: nr 0xc a0 0x1001 a1 0x1 a2 0x0 a3 0x0',
        '  q 1 [000] 1.000001: kvm:kvm_hypercall: nr 0xc a0 0x1000 a1 0x0 a2 0x0 a3 0x0',
        '  q 1 [000] 1.000002: kvm:kvm_hypercall: nr 0xc a0 0x2000 a1 0x1 a2 0x0 a3 0x0',
      ].join('\n'),
      'tracepoint',
      't',
    );
    expect(r.ok && r.ops.map((o) => o.address)).toEqual([0x2000]);
  });

  it('reports lines of another shape and tracepoints printed unlike their TP_printk', () => {
    const r = parseTrace(
      [
        '  q 1 [000] 1.000000: kvm:kvm_hypercall: nr 12 a0 0x1000',
        'hello',
        '  q 1 [000] 1.000002: kvm:kvm_vmgexit_msr_protocol_enter: vcpu 0 ghcb_gpa 14',
      ].join('\n'),
      'tracepoint',
      't',
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.line)).toEqual([1, 2, 3]);
    expect(r.errors[0]!.message).toContain('as its TP_printk prints');
    expect(r.errors[1]!.message).toContain('not a tracepoint line');
  });

  it('says which requests reach no tracepoint when a trace has no conversion', () => {
    const r = parseTrace(
      '  q 1 [000] 1.000000: kvm:kvm_exit: reason HLT rip 0x0 info 0 0\n',
      'tracepoint',
      't',
    );
    expect(!r.ok && r.errors[0]!.message).toContain('TDX MapGPA reach no tracepoint');
  });

  it('gives the same operations as the QEMU log of the same requests, read as text or bytes', () => {
    const log = parseTrace(
      '1@5123.000000:kvm_convert_memory start 0x80000000 size 0x200000 shared_to_private\n' +
        '1@5123.000500:kvm_convert_memory start 0x100000000 size 0x1000 private_to_shared\n' +
        '1@5123.200000:kvm_convert_memory start 0x100000000 size 0x1000 shared_to_private\n',
      'qemu',
      'x.log',
    );
    expect(log.ok).toBe(true);
    if (!log.ok) return;
    const perf = opsOf(textSource(PERF_SCRIPT, 'perf.txt', 17)).ops;
    expect(essence(perf)).toEqual(essence(log.ops));
  });
});
