import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { importMemoPack, MemoUse, packBlobs, readMemoPack } from '../cache/memo-pack.js';
import { Store } from '../cache/store.js';

const tempStore = () => new Store(fs.mkdtempSync(path.join(os.tmpdir(), 'fer-dag-memo-pack-')));

test("a stage's memo pack holds the entries it found or wrote, and no others", () => {
  const store = tempStore();
  store.memo('agr').set({ image: 'old' }, { age: 30 });
  store.memo('agr').set({ image: 'unrelated' }, { age: 50 });
  const use = new MemoUse((namespace) => store.memo(namespace));
  const agr = use.view('agr');
  assert.deepEqual(agr.get({ image: 'old' }), { age: 30 });
  assert.equal(agr.get({ image: 'absent' }), undefined);
  const features = store.putBytes('feature vector');
  use.view('features').set({ image: 'new' }, { vector: features }, [features]);

  const entries = readMemoPack(Buffer.from(use.pack()!));
  assert.deepEqual(
    entries.map((e) => [e.n, e.v]),
    [
      ['agr', { age: 30 }],
      ['features', { vector: features }],
    ],
  );
  assert.deepEqual(packBlobs(entries), [features]);
  assert.equal(new MemoUse((namespace) => store.memo(namespace)).pack(), undefined, 'no memo used, no pack');
});

test('importing a pack adds the entries whose blobs are present, and only those', () => {
  const from = tempStore();
  const use = new MemoUse((namespace) => from.memo(namespace));
  const kept = from.putBytes('kept');
  const gone = from.putBytes('gone');
  use.view('oracle').set({ image: 1 }, { p: kept }, [kept]);
  use.view('oracle').set({ image: 2 }, { p: gone }, [gone]);
  use.view('oracle').set({ image: 3 }, [0.5, 0.5]);
  const entries = readMemoPack(Buffer.from(use.pack()!));

  const to = tempStore();
  to.putBytes('kept');
  assert.equal(
    importMemoPack(
      entries,
      (n) => to.memo(n),
      (h) => to.hasBlob(h),
    ),
    2,
  );
  assert.deepEqual(to.memo('oracle').get({ image: 1 }), { p: kept });
  assert.equal(to.memo('oracle').get({ image: 2 }), undefined, 'its blob is not here: the entry would lie');
  assert.deepEqual(to.memo('oracle').get({ image: 3 }), [0.5, 0.5]);
  assert.equal(
    importMemoPack(
      entries,
      (n) => to.memo(n),
      (h) => to.hasBlob(h),
    ),
    0,
    'entries already here stay',
  );
});

test('a pack line that is not a memo entry is refused', () => {
  assert.throws(() => readMemoPack(Buffer.from('{"n":"../escape","k":"x","v":1}\n')), /not a memo entry/);
});
