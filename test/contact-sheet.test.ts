import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { encodePng } from '../datasets/images/codec/png.js';
import { renderContactSheet } from '../report/contact-sheet.js';

const square = (value: number) =>
  encodePng({ width: 20, height: 20, channels: 1, data: new Uint8Array(400).fill(value) });

test('a contact sheet shows one row per class with each issue captioned, and renders the same twice', async () => {
  const rows = [
    {
      title: 'angry',
      items: [
        { image: square(128), caption: ['angry → sad', 'p 0.91'] as [string, string] },
        { image: square(0), caption: ['angry → fear', 'p 0.72'] as [string, string] },
      ],
    },
    { title: 'disgust', items: [] },
  ];
  const png = await renderContactSheet(rows, 'fer2013: most confident label issues');
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 110 + 2 * (96 + 8) + 8);
  assert.equal(info.height, 40 + 2 * (96 + 30 + 8) + 8);
  // The first thumbnail is the gray square, the second the black one, where the layout puts them.
  const at = (x: number, y: number) => data[(y * info.width + x) * info.channels] as number;
  assert.ok(Math.abs(at(110 + 48, 40 + 48) - 128) < 10, 'first thumbnail (mid gray, not the white page)');
  assert.ok(at(110 + 104 + 48, 40 + 48) < 15, 'second thumbnail');
  assert.ok((await renderContactSheet(rows, 'fer2013: most confident label issues')).equals(png));
});
