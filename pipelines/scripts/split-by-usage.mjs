// Splits a FER2013-format CSV into train.csv and test.csv by its Usage column (PublicTest+PrivateTest → test).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [csv, outDir] = process.argv.slice(2);
const [header, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
const train = rows.filter((r) => r.endsWith(',Training'));
const test = rows.filter((r) => !r.endsWith(',Training'));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'train.csv'), `${[header, ...train].join('\n')}\n`);
writeFileSync(join(outDir, 'test.csv'), `${[header, ...test].join('\n')}\n`);
console.log(`train ${train.length}, test ${test.length}`);
