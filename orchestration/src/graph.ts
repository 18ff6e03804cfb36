/**
 * The graph of registered steps: validated once (unique names, known upstream steps with the same partitioning, no
 * cycles), with lookups for upstream and downstream steps and a topological order. Not the execution: workflows.ts
 * runs it, activities.ts runs each step.
 */
import { describePartitioning, validatePartitioning } from './partition.ts';
import type { StepDefinition } from './step.ts';

export class GraphError extends Error {
  override readonly name = 'GraphError';
}

const NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

export class StepGraph {
  private readonly byName = new Map<string, StepDefinition>();
  private readonly downstreamOf = new Map<string, string[]>();
  /** Every step, upstream before downstream (ties in registration order). */
  readonly ordered: readonly StepDefinition[];

  constructor(steps: readonly StepDefinition[]) {
    for (const s of steps) {
      if (!NAME.test(s.name)) throw new GraphError(`step name ${JSON.stringify(s.name)} must look like area.verb`);
      if (this.byName.has(s.name)) throw new GraphError(`step ${s.name} is registered twice`);
      validatePartitioning(s.partitioning);
      this.byName.set(s.name, s);
      this.downstreamOf.set(s.name, []);
    }
    for (const s of steps) {
      for (const u of s.upstream ?? []) {
        const up = this.byName.get(u);
        if (!up) throw new GraphError(`step ${s.name} names an unknown upstream step ${u}`);
        if (describePartitioning(up.partitioning) !== describePartitioning(s.partitioning)) {
          throw new GraphError(
            `step ${s.name} (${describePartitioning(s.partitioning)}) cannot consume ${u} (${describePartitioning(up.partitioning)})`,
          );
        }
        this.downstreamOf.get(u)?.push(s.name);
      }
    }
    this.ordered = this.topological(steps);
  }

  private topological(steps: readonly StepDefinition[]): StepDefinition[] {
    const out: StepDefinition[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (s: StepDefinition, path: string[]) => {
      const st = state.get(s.name);
      if (st === 'done') return;
      if (st === 'visiting') throw new GraphError(`steps form a cycle: ${[...path, s.name].join(' → ')}`);
      state.set(s.name, 'visiting');
      for (const u of s.upstream ?? []) visit(this.get(u), [...path, s.name]);
      state.set(s.name, 'done');
      out.push(s);
    };
    for (const s of steps) visit(s, []);
    return out;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The step, or a GraphError that lists the known names. */
  get(name: string): StepDefinition {
    const s = this.byName.get(name);
    if (!s) throw new GraphError(`unknown step ${JSON.stringify(name)}; known steps: ${this.names().join(', ')}`);
    return s;
  }

  names(): string[] {
    return this.ordered.map((s) => s.name);
  }

  downstream(name: string): readonly string[] {
    return this.downstreamOf.get(name) ?? [];
  }

  /** Steps with no upstream step. */
  roots(): StepDefinition[] {
    return this.ordered.filter((s) => (s.upstream ?? []).length === 0);
  }

  /** `names` in topological order; throws on an unknown name. */
  sort(names: readonly string[]): string[] {
    const wanted = new Set(names.map((n) => this.get(n).name));
    return this.ordered.filter((s) => wanted.has(s.name)).map((s) => s.name);
  }
}
