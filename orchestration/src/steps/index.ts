/**
 * The registered steps of the platform's batch graph. A package adds its batch work by adding one StepDefinition
 * here (see step.ts for the contract and analytical.ts for command-backed steps).
 */
import { StepGraph } from '../graph.ts';
import type { StepDefinition } from '../step.ts';
import { ANALYTICAL_STEPS } from './analytical.ts';
import { dailyControlTotals } from './controls.ts';
import { reconcileCheck } from './reconcile.ts';
import { reviewTimeouts } from './review-timeouts.ts';

export const DEFAULT_STEPS: readonly StepDefinition[] = [
  dailyControlTotals,
  ...ANALYTICAL_STEPS,
  reconcileCheck,
  reviewTimeouts,
];

export function defaultGraph(extra: readonly StepDefinition[] = []): StepGraph {
  return new StepGraph([...DEFAULT_STEPS, ...extra]);
}
