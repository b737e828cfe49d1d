// NUMA mempolicy of a guest_memfd file (the "KVM: guest_memfd: Add NUMA mempolicy support" series:
// a shared policy on the file, set with mbind on its mmap, applied to future allocations only).
// Interleave picks the node from the file index, as shared policies do (ilx = index >> order).
import type { NodeChoice } from '../allocators/allocator.js';
import type { MempolicyConfig } from '../config.js';
import { ConfigError } from '../errors.js';

export class Mempolicy {
  private readonly allNodes: number[];
  private readonly weighted: number[];

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
  }

  /** Nodes to try for the folio of `order` at file `index`. */
  choose(index: number, order: number): NodeChoice {
    const { mode, nodes } = this.config;
    switch (mode) {
      case 'default':
        return { nodes: this.withFallback([this.homeNode]), strict: false };
      case 'bind':
        return { nodes, strict: true };
      case 'preferred':
        return { nodes: this.withFallback([nodes[0]!]), strict: false };
      case 'interleave': {
        const ilx = Math.floor(index / 2 ** order);
        return { nodes: this.withFallback([nodes[ilx % nodes.length]!]), strict: false };
      }
      case 'weighted-interleave': {
        const ilx = Math.floor(index / 2 ** order);
        return {
          nodes: this.withFallback([this.weighted[ilx % this.weighted.length]!]),
          strict: false,
        };
      }
    }
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
