import type { ManifestRecord } from '../../datasets/record.js';
import type { Agreement, AttributeAgreement } from '../../datasets/attributes.js';
import { ETHNICITIES, GENDERS } from '../../datasets/vocabulary.js';
import { AGE_BUCKETS } from '../../datasets/vocabulary.js';
import type { AgrParams } from './params.js';

export interface FailedImage {
  source: string;
  origPath: string;
  blob: string;
  error: string;
}

const count = (records: readonly ManifestRecord[], key: 'gender' | 'age' | 'ethnicity', values: readonly string[]) =>
  Object.fromEntries(values.map((v) => [v, records.filter((r) => r[key] === v).length]));

/** agr.json (facts only, so the same inputs give the same bytes), agr.md for people, flagged.jsonl. */
export function buildAgrReport(
  output: readonly ManifestRecord[],
  facts: { params: AgrParams; failed: FailedImage[]; agreement: Agreement | undefined },
) {
  const { params: p } = facts;
  const withAttributes = output.filter((r) => r.gender);
  const flagged = output.filter((r) => r.attributes?.flag);
  const sources = [...new Set(output.map((r) => r.source))].sort();
  const json = {
    images: output.length + facts.failed.length,
    withAttributes: withAttributes.length,
    fromAnnotations: output.filter((r) => r.attributes?.from === 'annotations').length,
    fromModels: output.filter((r) => r.attributes?.from === 'models' && !r.attributes.flag).length,
    flagged: {
      noFace: flagged.filter((r) => r.attributes?.flag === 'no-face').length,
      severalFaces: flagged.filter((r) => r.attributes?.flag === 'several-faces').length,
    },
    skipped: facts.failed,
    models: {
      gender: p.genderModel,
      age: p.ageModel,
      ethnicity: 'gear',
      detector:
        p.detect === 'never' ? null : { model: 'blazeface', when: p.detect, minSide: p.detectMinSide, ...p.detector },
    },
    ageBuckets: p.ageBuckets,
    counts: Object.fromEntries(
      sources.map((source) => {
        const of = withAttributes.filter((r) => r.source === source);
        return [
          source,
          {
            gender: count(of, 'gender', GENDERS),
            age: count(of, 'age', AGE_BUCKETS),
            ethnicity: count(of, 'ethnicity', ETHNICITIES),
          },
        ];
      }),
    ),
    ...(facts.agreement ? { agreement: facts.agreement } : {}),
  };
  const flaggedLines =
    flagged
      .map((r) =>
        JSON.stringify({
          source: r.source,
          origPath: r.origPath,
          blob: r.blob,
          flag: r.attributes?.flag,
          faces: r.attributes?.faces,
        }),
      )
      .join('\n') + (flagged.length ? '\n' : '');
  return { json, markdown: markdown(json, facts.agreement), flaggedLines };
}

function markdown(
  json: {
    images: number;
    withAttributes: number;
    fromAnnotations: number;
    fromModels: number;
    flagged: { noFace: number; severalFaces: number };
    skipped: FailedImage[];
  },
  agreement: Agreement | undefined,
): string {
  const lines = [
    '# agr',
    '',
    `${json.images} images: ${json.fromAnnotations} attributes from annotations, ${json.fromModels} from the models, ` +
      `${json.flagged.noFace} with no face and ${json.flagged.severalFaces} with several (flagged, no attributes), ${json.skipped.length} skipped (undecodable).`,
  ];
  if (agreement) {
    lines.push(
      '',
      '## Agreement of the models with the annotations',
      '',
      '| attribute | images | agree | accuracy |',
      '|---|---:|---:|---:|',
    );
    for (const key of ['gender', 'age', 'ethnicity'] as const) {
      const a = agreement[key];
      lines.push(`| ${key} | ${a.images} | ${a.agree} | ${a.accuracy.toFixed(3)} |`);
    }
    if (agreement.ageYearsMeanAbsoluteError !== null)
      lines.push('', `Age in years: mean absolute difference ${agreement.ageYearsMeanAbsoluteError}.`);
    for (const key of ['gender', 'age', 'ethnicity'] as const) lines.push('', ...confusionTable(key, agreement[key]));
  }
  return lines.join('\n') + '\n';
}

function confusionTable(key: string, a: AttributeAgreement): string[] {
  const values = Object.keys(a.confusion);
  return [
    `### ${key}: annotated (rows) × predicted (columns)`,
    '',
    `| | ${values.join(' | ')} |`,
    `|---|${values.map(() => '---:').join('|')}|`,
    ...values.map((v) => `| ${v} | ${values.map((w) => a.confusion[v]?.[w] ?? 0).join(' | ')} |`),
  ];
}
