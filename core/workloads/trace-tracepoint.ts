// Host tracepoint text: `perf script` and `trace-cmd report` output of the two KVM tracepoints that
// carry a guest's private/shared conversion requests on the host kernel itself, for hosts where
// QEMU's own kvm_convert_memory event cannot be enabled. Other events in the same output are
// skipped; anything else is a bad line.
//
// Which requests a tracepoint sees (arch/x86/kvm):
// - kvm:kvm_hypercall (trace.h, traced in x86.c ____kvm_emulate_hypercall(), printed
//   "nr 0x%lx a0 0x%lx a1 0x%lx a2 0x%lx a3 0x%lx"): KVM_HC_MAP_GPA_RANGE (nr 12,
//   include/uapi/linux/kvm_para.h) with a0 the GPA, a1 the number of 4 KiB pages and a2 the
//   attributes, bit 4 KVM_MAP_GPA_RANGE_ENCRYPTED (Documentation/virt/kvm/x86/hypercalls.rst).
//   KVM refuses (-KVM_EINVAL, no exit to userspace) a GPA that is not page aligned or a zero
//   page count, so those lines convert nothing and are skipped. SEV and SEV-ES guests convert
//   through this hypercall.
// - kvm:kvm_vmgexit_msr_protocol_enter (trace.h, traced in svm/sev.c
//   sev_handle_vmgexit_msr_protocol(), printed "vcpu %u, ghcb_gpa %016llx"): an SNP guest's
//   page-state change through the GHCB MSR protocol, GHCB_MSR_PSC_REQ (0x014) in bits 11:0, the
//   GFN in bits 51:12 and the operation in bits 55:52 (arch/x86/include/asm/sev-common.h);
//   snp_begin_psc_msr() turns SNP_PAGE_STATE_PRIVATE (1) and SNP_PAGE_STATE_SHARED (2) into a
//   one-page KVM_HC_MAP_GPA_RANGE exit and refuses any other operation.
// Not visible to either: an SNP guest's page-state changes through the GHCB page (SVM_VMGEXIT_PSC,
// entries in the shared buffer, snp_begin_psc()) and a TDX guest's TDG.VP.VMCALL<MapGPA>
// (vmx/tdx.c tdx_map_gpa()). docs/trace-format.md says so, and the QEMU log sees them all.
//
// Line shapes: perf script's default fields "<comm> <tid> [<cpu>] <secs>.<frac>: kvm:<event>:
// <args>", trace-cmd report's "<comm>-<pid> [<cpu>] <secs>.<frac>: <event>: <args>" (with the
// optional latency flags column, "d..1."), and trace-cmd's header lines.
import type { Shareability } from '../gmem/guest-memfd.js';
import { checkRange, checkSize, TimeChecker } from './trace-checks.js';
import { ConversionLogParser, show, type LineVerdict } from './trace-lines.js';
import type { TraceOp } from './trace-ops.js';
import { PAGE_SIZE } from '../units.js';

export const HYPERCALL_EVENT = 'kvm_hypercall';
export const MSR_PROTOCOL_EVENT = 'kvm_vmgexit_msr_protocol_enter';
/** include/uapi/linux/kvm_para.h */
const KVM_HC_MAP_GPA_RANGE = 12;
/** include/uapi/linux/kvm_para.h: attribute bit 4, encrypted (private) when set. */
const KVM_MAP_GPA_RANGE_ENCRYPTED = 1 << 4;
/** arch/x86/include/asm/sev-common.h */
const GHCB_MSR_PSC_REQ = 0x014n;
const SNP_PAGE_STATE_PRIVATE = 1n;
const SNP_PAGE_STATE_SHARED = 2n;

const TRACEPOINT_LINE =
  /^\s*(.*?)\s*\[(\d+)\]\s+(?:[^\s:]+\s+)?(\d+)\.(\d{1,9}):\s+(?:([A-Za-z0-9_]+):)?([A-Za-z0-9_]+):(?:\s+(.*))?$/;
/** trace-cmd report's header: "version = 6", "cpus=8", "CPU 3 is empty". */
const TRACE_CMD_HEADER = /^\s*(?:version = \d+|cpus=\d+|CPU \d+ is empty)\s*$/;
const HYPERCALL_ARGS =
  /^nr 0x([0-9a-f]+) a0 0x([0-9a-f]+) a1 0x([0-9a-f]+) a2 0x([0-9a-f]+) a3 0x([0-9a-f]+)$/;
const MSR_ARGS = /^vcpu (\d+), ghcb_gpa ([0-9a-f]{1,16})$/;
const EXPECTED = `"<comm> [<cpu>] <seconds>.<fraction>: [kvm:]<event>: <arguments>", as perf script and trace-cmd report print tracepoints`;

/** Whether a line is perf script / trace-cmd report output, for telling the format of a trace. */
export function looksLikeTracepointLine(t: string): boolean {
  return TRACEPOINT_LINE.test(t) || TRACE_CMD_HEADER.test(t);
}

interface TracepointFields {
  readonly gpa: number;
  readonly size: number;
  readonly to: Shareability;
  /** Seconds and nanoseconds of the event's timestamp. */
  readonly seconds: number;
  readonly nanos: number;
}
type TracepointLine = LineVerdict<TracepointFields>;

function parseTracepointLine(text: string): TracepointLine {
  if (text.trim() === '' || TRACE_CMD_HEADER.test(text)) return { kind: 'skip' };
  const m = TRACEPOINT_LINE.exec(text);
  if (!m) {
    return {
      kind: 'error',
      message: `not a tracepoint line: expected ${EXPECTED}; got ${show(text)}`,
    };
  }
  const system = m[5];
  const event = m[6]!;
  if (system !== undefined && system !== 'kvm') return { kind: 'skip' };
  const args = (m[7] ?? '').trim();
  const seconds = Number(m[3]);
  const nanos = Number(m[4]!.padEnd(9, '0'));
  if (!Number.isSafeInteger(seconds)) {
    return { kind: 'error', message: `timestamp ${m[3]}.${m[4]} is too large` };
  }
  const request =
    event === HYPERCALL_EVENT
      ? hypercallRequest(args)
      : event === MSR_PROTOCOL_EVENT
        ? msrProtocolRequest(args)
        : null;
  if (request === null || request.kind === 'skip') return { kind: 'skip' };
  if (request.kind === 'error') return request;
  return { ...request, seconds, nanos };
}

type Request =
  | { readonly kind: 'skip' }
  | { readonly kind: 'error'; readonly message: string }
  | {
      readonly kind: 'convert';
      readonly gpa: number;
      readonly size: number;
      readonly to: Shareability;
    };

/** KVM_HC_MAP_GPA_RANGE, as __kvm_emulate_hypercall() takes it; other hypercalls are skipped. */
function hypercallRequest(args: string): Request {
  const a = HYPERCALL_ARGS.exec(args);
  if (!a) {
    return {
      kind: 'error',
      message: `${HYPERCALL_EVENT}: expected "nr 0x<nr> a0 0x<a0> a1 0x<a1> a2 0x<a2> a3 0x<a3>", as its TP_printk prints, got ${show(args)}`,
    };
  }
  const [nr, a0, a1, a2] = a.slice(1, 5).map((h) => BigInt(`0x${h}`)) as [
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  if (nr !== BigInt(KVM_HC_MAP_GPA_RANGE)) return { kind: 'skip' };
  // Refused by KVM before any exit: the guest gets -KVM_EINVAL and nothing converts.
  if (a0 % BigInt(PAGE_SIZE) !== 0n || a1 === 0n) return { kind: 'skip' };
  const bytes = a1 * BigInt(PAGE_SIZE);
  if (a0 > BigInt(Number.MAX_SAFE_INTEGER) || bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    return {
      kind: 'error',
      message: `${HYPERCALL_EVENT} KVM_HC_MAP_GPA_RANGE: gpa ${hex0(a0)} with ${a1} pages is past the largest guest (64 TiB)`,
    };
  }
  const to: Shareability = (a2 & BigInt(KVM_MAP_GPA_RANGE_ENCRYPTED)) !== 0n ? 'private' : 'shared';
  return checked(Number(a0), Number(bytes), to);
}

/** A GHCB MSR protocol page-state change, as snp_begin_psc_msr() takes it; other MSR protocol
 * requests (CPUID, GHCB registration, ...) and refused operations are skipped. */
function msrProtocolRequest(args: string): Request {
  const a = MSR_ARGS.exec(args);
  if (!a) {
    return {
      kind: 'error',
      message: `${MSR_PROTOCOL_EVENT}: expected "vcpu <n>, ghcb_gpa <16 hex digits>", as its TP_printk prints, got ${show(args)}`,
    };
  }
  const msr = BigInt(`0x${a[2]}`);
  if ((msr & 0xfffn) !== GHCB_MSR_PSC_REQ) return { kind: 'skip' };
  const gfn = (msr >> 12n) & ((1n << 40n) - 1n);
  const op = (msr >> 52n) & 0xfn;
  if (op !== SNP_PAGE_STATE_PRIVATE && op !== SNP_PAGE_STATE_SHARED) return { kind: 'skip' };
  const gpa = gfn * BigInt(PAGE_SIZE);
  if (gpa > BigInt(Number.MAX_SAFE_INTEGER)) {
    return {
      kind: 'error',
      message: `page-state change of gpa ${hex0(gpa)}: past the largest guest`,
    };
  }
  return checked(Number(gpa), PAGE_SIZE, op === SNP_PAGE_STATE_PRIVATE ? 'private' : 'shared');
}

function checked(gpa: number, size: number, to: Shareability): Request {
  const bad = checkSize(size) ?? checkRange('gpa', gpa, size);
  if (bad) return { kind: 'error', message: bad };
  return { kind: 'convert', gpa, size, to };
}

function hex0(n: bigint): string {
  return `0x${n.toString(16)}`;
}

export class TracepointParser extends ConversionLogParser<TracepointFields> {
  private origin: { seconds: number; nanos: number } | null = null;
  private readonly times = new TimeChecker();

  protected classify(text: string): TracepointLine {
    return parseTracepointLine(text);
  }

  protected build(
    line: number,
    parsed: { readonly kind: 'convert' } & TracepointFields,
  ): { ok: true; value: TraceOp } | { ok: false; message: string } {
    // Times relative to the first conversion (perf and trace-cmd print the trace clock's seconds).
    this.origin ??= { seconds: parsed.seconds, nanos: parsed.nanos };
    const timeNs =
      (parsed.seconds - this.origin.seconds) * 1e9 + (parsed.nanos - this.origin.nanos);
    const late = this.times.check(line, timeNs);
    if (late) return { ok: false, message: late };
    const { gpa: address, size, to } = parsed;
    return { ok: true, value: { op: 'convert', line, timeNs, space: 'gpa', address, size, to } };
  }

  protected nothingFound(otherLines: number): string {
    return otherLines > 0
      ? `no conversion requests among ${otherLines} tracepoint line(s): record kvm:${HYPERCALL_EVENT} (KVM_HC_MAP_GPA_RANGE) and kvm:${MSR_PROTOCOL_EVENT} (SNP GHCB MSR page-state changes); SNP page-state changes through the GHCB page and TDX MapGPA reach no tracepoint: use the QEMU kvm_convert_memory log for those`
      : `the trace is empty: expected ${EXPECTED} lines`;
  }
}
