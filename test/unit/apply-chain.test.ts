import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_BUDGET, nextPageLimit, runBudgetFor, shouldContinueAsNew } from '../../domain/apply-chain';

const fresh = { itemsDispatched: 0, historyLength: 3, historySizeBytes: 2_000, continueAsNewSuggested: false };

describe('cutting one apply into runs', () => {
  it('keeps a run going while every measure is under its budget', () => {
    expect(shouldContinueAsNew(fresh, DEFAULT_RUN_BUDGET)).toBe(false);
    expect(shouldContinueAsNew({ ...fresh, itemsDispatched: DEFAULT_RUN_BUDGET.itemsPerRun - 1, historyLength: DEFAULT_RUN_BUDGET.maxEvents - 1 }, DEFAULT_RUN_BUDGET)).toBe(false);
  });

  it('hands over at the item budget, the event budget, the size budget, or when Temporal suggests it', () => {
    expect(shouldContinueAsNew({ ...fresh, itemsDispatched: DEFAULT_RUN_BUDGET.itemsPerRun }, DEFAULT_RUN_BUDGET)).toBe(true);
    expect(shouldContinueAsNew({ ...fresh, historyLength: DEFAULT_RUN_BUDGET.maxEvents }, DEFAULT_RUN_BUDGET)).toBe(true);
    expect(shouldContinueAsNew({ ...fresh, historySizeBytes: DEFAULT_RUN_BUDGET.maxHistoryBytes }, DEFAULT_RUN_BUDGET)).toBe(true);
    expect(shouldContinueAsNew({ ...fresh, continueAsNewSuggested: true }, DEFAULT_RUN_BUDGET)).toBe(true);
  });

  it('stays well under Temporal’s limits (51,200 events, 50 MiB; warnings at 10,240 events and 10 MiB) with writes in flight', () => {
    const inFlightEvents = 200 * 6;
    expect(DEFAULT_RUN_BUDGET.maxEvents + inFlightEvents).toBeLessThan(10_240);
    expect(DEFAULT_RUN_BUDGET.maxHistoryBytes).toBeLessThan(10 * 2 ** 20);
    // A run that dispatches its whole item budget at 4 events an item stays under its event budget.
    expect(DEFAULT_RUN_BUDGET.itemsPerRun * 4).toBeLessThan(DEFAULT_RUN_BUDGET.maxEvents);
  });

  it('never reads a page past what the run may still dispatch', () => {
    const budget = { ...DEFAULT_RUN_BUDGET, itemsPerRun: 600, pageSize: 250 };
    expect(nextPageLimit(0, 0, budget)).toBe(250);
    expect(nextPageLimit(250, 100, budget)).toBe(250);
    expect(nextPageLimit(400, 50, budget)).toBe(150);
    expect(nextPageLimit(600, 0, budget)).toBe(0);
    expect(nextPageLimit(700, 0, budget)).toBe(0);
  });

  it('takes the items per run from configuration, with a page no larger than a run, and refuses nonsense', () => {
    expect(runBudgetFor(undefined)).toEqual(DEFAULT_RUN_BUDGET);
    expect(runBudgetFor(3)).toEqual({ ...DEFAULT_RUN_BUDGET, itemsPerRun: 3, pageSize: 3 });
    expect(runBudgetFor(5000)).toEqual({ ...DEFAULT_RUN_BUDGET, itemsPerRun: 5000 });
    expect(() => runBudgetFor(0)).toThrow(/positive integer/);
    expect(() => runBudgetFor(1.5)).toThrow(/positive integer/);
  });
});
