import type { Hash } from '../../cache/hash.js';
import { EMOTIONS, type Emotion } from '../../datasets/vocabulary.js';
import type { ManifestRecord } from '../../datasets/record.js';
import type { RoundsResult } from './rounds.js';
import type { ReclassifyParams } from './params.js';
import { renderContactSheet, type SheetRow } from '../../report/contact-sheet.js';
import { transitionMatrix } from './policy.js';
import type { SourceIssue } from './rounds.js';
import type { SourceReclassification, TruthScore } from '../../report/reclassification.js';

/** What the rounds made of one source, as the stage hands it to the summary. */
export interface SourceOutcome {
  source: string;
  result: RoundsResult;
  /** The source's records in input order; issue indices point here. */
  records: ManifestRecord[];
}

/** One line of issues.jsonl: an image confident learning flagged, and what became of it. */
export interface IssueLine {
  source: string;
  blob: Hash;
  origPath: string;
  round: number;
  given: Emotion;
  suggested: Emotion;
  selfConfidence: number;
  confidence: number;
  action: 'relabelled' | 'pruned' | 'reported';
  trueLabel?: string;
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const perClass = (records: readonly ManifestRecord[]) =>
  Object.fromEntries(EMOTIONS.map((e) => [e, records.filter((r) => r.label === e).length]));

function flaggedIndices(issues: readonly SourceIssue[]): Set<number> {
  return new Set(issues.map((i) => i.index));
}

/** Kept images whose label differs from the one they came with (one relabelled and then back counts as unchanged). */
function relabelledCount(before: readonly ManifestRecord[], after: readonly ManifestRecord[]): number {
  const original = new Map(before.map((r) => [r.blob, r.label]));
  return after.filter((r) => original.get(r.blob) !== r.label).length;
}

function truthScore(outcome: SourceOutcome): TruthScore | undefined {
  const { records, result } = outcome;
  if (!records.length || !records.every((r) => r.trueLabel !== undefined)) return undefined;
  const wrong = (r: ManifestRecord) => r.label !== r.trueLabel;
  const flagged = flaggedIndices(result.issues);
  const mislabelled = records.filter(wrong).length;
  const truePositives = [...flagged].filter((i) => wrong(records[i] as ManifestRecord)).length;
  const after = new Map(result.records.map((r) => [r.blob, r]));
  const fixedCandidates = [...flagged]
    .map((i) => records[i] as ManifestRecord)
    .filter((r) => wrong(r) && after.get(r.blob)?.label !== r.label && after.has(r.blob));
  return {
    mislabelled,
    flagged: flagged.size,
    truePositives,
    precision: round4(truePositives / Math.max(1, flagged.size)),
    recall: round4(truePositives / Math.max(1, mislabelled)),
    relabelledToTruth: fixedCandidates.length
      ? round4(fixedCandidates.filter((r) => after.get(r.blob)?.label === r.trueLabel).length / fixedCandidates.length)
      : null,
    labelAccuracy: {
      before: round4(records.filter((r) => !wrong(r)).length / records.length),
      after: round4(result.records.filter((r) => !wrong(r)).length / Math.max(1, result.records.length)),
    },
  };
}

function issueLines(outcome: SourceOutcome, policy: ReclassifyParams['policy']): IssueLine[] {
  const action = policy === 'relabel' ? 'relabelled' : policy === 'prune' ? 'pruned' : 'reported';
  return outcome.result.issues.map((issue) => {
    const record = outcome.records[issue.index] as ManifestRecord;
    return {
      source: outcome.source,
      blob: record.blob,
      origPath: record.origPath,
      round: issue.round,
      given: EMOTIONS[issue.given] as Emotion,
      suggested: EMOTIONS[issue.suggested] as Emotion,
      selfConfidence: round4(issue.selfConfidence),
      confidence: round4(issue.confidence),
      action,
      ...(record.trueLabel !== undefined ? { trueLabel: record.trueLabel } : {}),
    };
  });
}

export interface ReportContext {
  params: ReclassifyParams;
  passedOver: Array<{ source: string; reason: string }>;
  unscored: Array<{ source: string; blob: Hash; error: string }>;
  oracleNote: string | undefined;
}

/**
 * report.json (per-source counts, rounds, the old→new label matrix, top issues), issues.jsonl lines and the stage
 * metrics.
 */
export function buildReport(
  input: readonly ManifestRecord[],
  output: readonly ManifestRecord[],
  outcomes: readonly SourceOutcome[],
  context: ReportContext,
) {
  const p = context.params;
  const lines = outcomes.flatMap((o) => issueLines(o, p.policy));
  const sources: Record<string, SourceReclassification> = Object.fromEntries(
    outcomes.map((o) => {
      const { result, records } = o;
      const truth = truthScore(o);
      return [
        o.source,
        {
          images: records.length,
          issues: flaggedIndices(result.issues).size,
          relabelled: relabelledCount(records, result.records),
          pruned: result.pruned.length,
          rounds: result.rounds.map((r) => ({
            ...r,
            heldOutAccuracy: r.heldOutAccuracy === null ? null : round4(r.heldOutAccuracy),
            ...(r.trueAccuracy !== undefined ? { trueAccuracy: round4(r.trueAccuracy) } : {}),
          })),
          thresholds: Object.fromEntries(
            EMOTIONS.map((e, j) => [
              e,
              Number.isFinite(result.thresholds[j]) ? round4(result.thresholds[j] as number) : null,
            ]),
          ),
          confidentJoint: result.confidentJoint,
          labelMatrix: transitionMatrix(records, result.records),
          prunedPerClass: perClass(result.pruned),
          perClass: { original: perClass(records), reclassified: perClass(result.records) },
          ...(truth ? { truth } : {}),
        },
      ];
    }),
  );
  const flaggedTotal = Object.values(sources).reduce((n, s) => n + s.issues, 0);
  const relabelledTotal = Object.values(sources).reduce((n, s) => n + s.relabelled, 0);
  const prunedTotal = Object.values(sources).reduce((n, s) => n + s.pruned, 0);
  const truths = Object.values(sources).flatMap((s) => ('truth' in s && s.truth ? [s.truth] : []));
  const truth = truths.length
    ? (() => {
        const tp = truths.reduce((n, t) => n + t.truePositives, 0);
        const flagged = truths.reduce((n, t) => n + t.flagged, 0);
        const mislabelled = truths.reduce((n, t) => n + t.mislabelled, 0);
        return {
          mislabelled,
          flagged,
          truePositives: tp,
          precision: round4(tp / Math.max(1, flagged)),
          recall: round4(tp / Math.max(1, mislabelled)),
        };
      })()
    : undefined;
  const json = {
    classes: EMOTIONS,
    oracle: p.oracle,
    ...(context.oracleNote ? { oracleNote: context.oracleNote } : {}),
    ...(p.oracle === 'cross-validation' ? { folds: p.folds, model: p.model } : {}),
    policy: p.policy,
    iterations: p.iterations,
    minConfidence: p.minConfidence,
    totals: {
      images: input.length,
      output: output.length,
      issues: flaggedTotal,
      relabelled: relabelledTotal,
      pruned: prunedTotal,
      ...(truth ? { truth } : {}),
    },
    sources,
    passedOver: context.passedOver,
    unscored: context.unscored,
    topIssues: [...lines]
      .sort((a, b) => a.selfConfidence - b.selfConfidence || a.blob.localeCompare(b.blob))
      .slice(0, p.topIssues),
  };
  // The first round's probabilities, for audits and for trying other detection rules offline.
  const probabilityLines = outcomes.flatMap((o) =>
    o.records.map((r, i) => ({
      source: o.source,
      blob: r.blob,
      given: r.label,
      p: Array.from(o.result.firstProbabilities[i] as Float32Array, round4),
    })),
  );
  const metrics = {
    images: input.length,
    issues: flaggedTotal,
    relabelled: relabelledTotal,
    pruned: prunedTotal,
    ...(truth ? { precision: truth.precision, recall: truth.recall } : {}),
  };
  return { json, issueLines: lines, probabilityLines, metrics };
}

/**
 * The contact sheet: per given label, its most confident issues (lowest self-confidence first), captioned
 * old → new.
 */
export async function renderIssueSheet(
  outcomes: readonly SourceOutcome[],
  perClass: number,
  readBlob: (blob: Hash) => Buffer,
): Promise<Buffer> {
  const all = outcomes.flatMap((o) =>
    o.result.issues.map((issue) => ({ issue, record: o.records[issue.index] as ManifestRecord })),
  );
  all.sort((a, b) => a.issue.selfConfidence - b.issue.selfConfidence || a.record.blob.localeCompare(b.record.blob));
  const rows: SheetRow[] = EMOTIONS.map((emotion, j) => ({
    title: emotion,
    items: all
      .filter((x) => x.issue.given === j)
      .slice(0, perClass)
      .map(({ issue, record }) => ({
        image: readBlob(record.blob),
        caption: [
          `${emotion} → ${EMOTIONS[issue.suggested]}`,
          `p ${issue.confidence.toFixed(2)} · ${record.source}`,
        ] as [string, string],
      })),
  }));
  return renderContactSheet(
    rows,
    `Label issues: ${all.length}`,
    'rows: the label given · captions: given → suggested, p(suggested) · source',
  );
}
