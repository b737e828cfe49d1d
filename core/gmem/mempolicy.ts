// NUMA mempolicy of a guest_memfd file (the "KVM: guest_memfd: Add NUMA mempolicy support" series:
// a shared policy on the file, set with mbind on its mmap, applied to future allocations only).
// Interleave picks the node from the file index, as shared policies do (ilx = index >> order).
import type { NodeChoice } from '../allocators/allocator.js';
import type { MempolicyConfig } from '../config.js';
import { ConfigError } from '../errors.js';

export class Mempolicy {
  private readonly allNodes: number[];
  private readonly weighted: number[];
  /** choose() of default, bind and preferred. */
  private readonly fixed: NodeChoice;
  /** choose() of (weighted) interleave, per interleave slot. */
  private readonly slots: readonly NodeChoice[];

  constructor(
    readonly config: MempolicyConfig,
    readonly homeNode: number,
    readonly nodeCount: number,
    path = 'mempolicy',
  ) {
    this.allNodes = Array.from({ length: nodeCount }, (_, i) => i);
    if (homeNode >= nodeCount)
      throw new ConfigError(
        `home node ${homeNode} does not exist (host has ${nodeCount})`,
        'homeNode',
      );
    for (const [i, n] of config.nodes.entries()) {
      if (n >= nodeCount) {
        throw new ConfigError(
          `node ${n} does not exist: the host has nodes 0-${nodeCount - 1}`,
          `${path}.nodes[${i}]`,
        );
      }
    }
    if (config.mode !== 'default' && config.nodes.length === 0) {
      throw new ConfigError(`mode ${config.mode} needs at least one node`, `${path}.nodes`);
    }
    if (config.mode === 'weighted-interleave' && config.weights.length !== config.nodes.length) {
      throw new ConfigError(
        `weighted-interleave needs one weight per node (${config.nodes.length} nodes, ${config.weights.length} weights)`,
        `${path}.weights`,
      );
    }
    this.weighted = [];
    if (config.mode === 'weighted-interleave') {
      config.nodes.forEach((n, i) => {
        for (let w = 0; w < config.weights[i]!; w++) this.weighted.push(n);
      });
    }
    const frozen = (nodes: number[], strict: boolean): NodeChoice =>
      Object.freeze({ nodes: Object.freeze(nodes), strict });
    const { mode, nodes } = config;
    this.fixed =
      mode === 'bind'
        ? frozen([...nodes], true)
        : frozen(this.withFallback([mode === 'preferred' ? nodes[0]! : homeNode]), false);
    const slotNodes =
      mode === 'interleave' ? nodes : mode === 'weighted-interleave' ? this.weighted : [];
    this.slots = slotNodes.map((n) => frozen(this.withFallback([n]), false));
  }

  /** Nodes to try for the folio of `order` at file `index`. The answers are frozen and shared:
   * a policy has only a handful of distinct ones, built once. */
  choose(index: number, order: number): NodeChoice {
    const { mode } = this.config;
    switch (mode) {
      case 'default':
      case 'bind':
      case 'preferred':
        return this.fixed;
      case 'interleave': {
        const ilx = Math.floor(index / 2 ** order);
        return this.slots[ilx % this.slots.length]!;
      }
      case 'weighted-interleave': {
        const ilx = Math.floor(index / 2 ** order);
        return this.slots[ilx % this.slots.length]!;
      }
    }
  }

  /** The policy gives every index the same nodes (default, bind, preferred). */
  get uniform(): boolean {
    const { mode } = this.config;
    return mode === 'default' || mode === 'bind' || mode === 'preferred';
  }

  /** Nodes a reservation is spread over: the policy's own nodes (shares split evenly over them),
   * other nodes only to cover a shortfall, and never under bind. Default and preferred reserve
   * on one node first. */
  reservationChoice(): NodeChoice {
    const { mode, nodes } = this.config;
    if (mode === 'bind') return { nodes, strict: true };
    if (mode === 'default') return { nodes: [this.homeNode], strict: false };
    if (mode === 'preferred') return { nodes: [nodes[0]!], strict: false };
    return { nodes, strict: false };
  }

  private withFallback(first: readonly number[]): number[] {
    return [...first, ...this.allNodes.filter((n) => !first.includes(n))];
  }
}
