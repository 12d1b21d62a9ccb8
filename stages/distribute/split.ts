import { shuffle, type Rng } from '../../lib/random.js';

/** Split names with their fractions, in the order given (train, val, test by default). */
export type SplitFractions = ReadonlyArray<readonly [string, number]>;

/**
 * How many of `n` images each split gets: every count is n × fraction rounded down or up (so within one
 * image of the request), the rounding going to the largest remainders (Hamilton's method); ties go to the
 * split named first.
 */
export function splitQuotas(n: number, fractions: SplitFractions): number[] {
  const exact = fractions.map(([, f]) => n * f);
  const quotas = exact.map(Math.floor);
  let left = n - quotas.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of byRemainder) {
    if (left <= 0) break;
    quotas[i]!++;
    left--;
  }
  return quotas;
}

/**
 * Deals `count` places to splits with the given quotas so that every stretch of the sequence holds each
 * split in proportion: at each place the split furthest behind its share goes next (ties: the one with more
 * left to give, then the first named). Laid over images sorted by subgroup, each subgroup is spread over the
 * splits as the whole group is.
 */
export function dealSplits(quotas: readonly number[]): number[] {
  const total = quotas.reduce((a, b) => a + b, 0);
  const given = quotas.map(() => 0);
  const order: number[] = [];
  for (let place = 0; place < total; place++) {
    let best = -1;
    let bestLag = -Infinity;
    quotas.forEach((quota, s) => {
      if (given[s]! >= quota) return;
      const lag = (quota * (place + 1)) / total - given[s]!;
      if (
        lag > bestLag + 1e-12 ||
        (Math.abs(lag - bestLag) <= 1e-12 && quota - given[s]! > quotas[best]! - given[best]!)
      ) {
        best = s;
        bestLag = lag;
      }
    });
    given[best]!++;
    order.push(best);
  }
  return order;
}

/**
 * A split for each item of one stratum (a source × emotion), as indices into `fractions`: shuffled with
 * `random`, then ordered by `subgroupOf` (a stable sort, so the shuffle decides within a subgroup), then
 * dealt. The result is in the items' own order. `quotas` replaces the fractions' own (grouped.ts gives the
 * places its clusters left).
 */
export function stratifiedSplit<T>(
  items: readonly T[],
  fractions: SplitFractions,
  subgroupOf: (item: T) => string,
  random: Rng,
  quotas = splitQuotas(items.length, fractions),
): number[] {
  const order = shuffle(
    random,
    items.map((_, i) => i),
  );
  const bySubgroup = order
    .map((i, rank) => ({ i, rank, subgroup: subgroupOf(items[i] as T) }))
    .sort((a, b) => (a.subgroup < b.subgroup ? -1 : a.subgroup > b.subgroup ? 1 : a.rank - b.rank));
  const dealt = dealSplits(quotas);
  const result = new Array<number>(items.length);
  bySubgroup.forEach(({ i }, place) => (result[i] = dealt[place] as number));
  return result;
}
