// Counts images per canonical emotion in a FER2013-format CSV (FER2013 ids: 0 angry … 4 sad, 5 surprise, 6 neutral).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const [csv, out] = process.argv.slice(2);
const fer2013Order = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
const counts = Object.fromEntries(['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'].map((e) => [e, 0]));
const usage = {};
for (const line of readFileSync(csv, 'utf8').trim().split('\n').slice(1)) {
  const [emotion, , split] = line.split(',');
  counts[fer2013Order[Number(emotion)]]++;
  usage[split] = (usage[split] ?? 0) + 1;
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ counts, usage }, null, 2)}\n`);
console.log(JSON.stringify(counts));
