/**
 * Runs `work` over `items` with at most `limit` in flight, starting them in item order. Pure and deterministic, so
 * workflows (under replay) and activities share it.
 */
export async function runBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane));
}
