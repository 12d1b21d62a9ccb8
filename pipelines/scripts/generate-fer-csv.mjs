// Writes a small FER2013-format CSV (emotion,pixels,Usage; 48×48 gray) of seeded synthetic images:
// each class gets its own blob pattern plus noise, so the file is deterministic for a given seed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const [out, rowsArg] = process.argv.slice(2);
const rows = Number(rowsArg ?? 700);
let state = Number(process.env.FER_DAG_SEED ?? 1) >>> 0 || 1;
const random = () => {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
};
const usages = ['Training', 'Training', 'Training', 'Training', 'Training', 'Training', 'Training', 'Training', 'PublicTest', 'PrivateTest'];
const lines = ['emotion,pixels,Usage'];
for (let i = 0; i < rows; i++) {
  const emotion = i % 7;
  const cx = 12 + emotion * 4;
  const cy = 24 + (emotion % 3) * 4;
  const pixels = [];
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 48; x++) {
      const d = Math.hypot(x - cx, y - cy);
      pixels.push(Math.max(0, Math.min(255, Math.round(200 - d * 6 + (random() - 0.5) * 60))));
    }
  }
  lines.push(`${emotion},${pixels.join(' ')},${usages[Math.floor(random() * usages.length)]}`);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${lines.join('\n')}\n`);
console.log(`wrote ${rows} rows to ${out}`);
