import type { BalanceWithSynthesisEntry } from '../../schemas/types/balance-with-synthesis.js';

/**
 * The balance-with-synthesis params,
 * typed from schemas/stages/balance-with-synthesis.schema.json with its defaults filled in.
 */
export type BalanceParams = BalanceWithSynthesisEntry['params'];
