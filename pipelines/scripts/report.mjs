// Writes a short Markdown summary from the class counts and the split.
import { readFileSync, writeFileSync } from 'node:fs';

const [countsFile, splitDir, out, title] = process.argv.slice(2);
const { counts, usage } = JSON.parse(readFileSync(countsFile, 'utf8'));
const rows = (f) => readFileSync(`${splitDir}/${f}`, 'utf8').trim().split('\n').length - 1;
const lines = [`# ${title}`, '', '| emotion | images |', '| --- | --- |'];
for (const [emotion, n] of Object.entries(counts)) lines.push(`| ${emotion} | ${n} |`);
lines.push('', `Usage column: ${Object.entries(usage).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
lines.push(`Split: ${rows('train.csv')} train, ${rows('test.csv')} test.`, '');
writeFileSync(out, lines.join('\n'));
console.log(`wrote ${out}`);
