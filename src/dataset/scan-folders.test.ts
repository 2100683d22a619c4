/** Unit tests of the till's confirmed scans read from folders (the CLI's --scans and --scans-none). */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatasetError, type DatasetLabel } from './dataset.types';
import { MAX_SCANS_PER_PRODUCT } from './manifest';
import { readScanFolders } from './scan-folders';

/** Seconds since the epoch of the oldest file; each file's minute is added to it. */
const EPOCH = 1_714_550_400;
/** A file's modification time as a scan's takenAt (ms). */
const at = (minute: number) => (EPOCH + minute * 60) * 1000;

describe('scan folders', () => {
  let root: string;
  /** Writes `file` (any bytes: the function does not decode them) modified `minute` minutes after EPOCH. */
  const write = async (file: string, minute: number) => {
    const full = path.join(root, file);
    await fs.mkdir(path.dirname(full), { recursive: true });
    await fs.writeFile(full, Buffer.from([0, 1, 2, minute & 0xff]));
    await fs.utimes(full, EPOCH + minute * 60, EPOCH + minute * 60);
    return full;
  };
  const labels: DatasetLabel[] = [
    { id: 'apple', name: 'Apple' },
    { id: 'pear', name: 'Pear' },
    { id: 'plum', name: 'Plum' },
  ];

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'scan-folders-'));
    await write('scans/pear/p1.jpg', 5);
    await write('scans/apple/a1.jpg', 1);
    await write('scans/apple/a2.jpg', 7);
    await write('scans/apple/.hidden.jpg', 9);
    await write('scans/kiwi/k1.jpg', 8);
    await write('none/n2.jpg', 3);
    await write('none/n1.jpg', 6);
    await write('none/.DS_Store', 10);
    await fs.mkdir(path.join(root, 'none', 'sub'));
    for (let i = 0; i < MAX_SCANS_PER_PRODUCT + 2; i++) await write(`many/only/${String(i).padStart(2, '0')}.jpg`, i);
    await write('many-none/x.jpg', 20);
    await write('loose/apple/a.jpg', 1);
    await write('loose/stray.jpg', 2);
    await write('flat/a.jpg', 1);
  });

  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('reads scans of known products and of none, newest first, leaving out a folder that names no product', async () => {
    const { scans, warnings } = await readScanFolders(labels, path.join(root, 'scans'), path.join(root, 'none'));
    assert.deepEqual(scans, [
      {
        label: 0,
        name: `scan ${path.join('apple', 'a2.jpg')}`,
        path: path.join(root, 'scans', 'apple', 'a2.jpg'),
        takenAt: at(7),
      },
      { label: null, name: 'scan n1.jpg (none)', path: path.join(root, 'none', 'n1.jpg'), takenAt: at(6) },
      {
        label: 1,
        name: `scan ${path.join('pear', 'p1.jpg')}`,
        path: path.join(root, 'scans', 'pear', 'p1.jpg'),
        takenAt: at(5),
      },
      { label: null, name: 'scan n2.jpg (none)', path: path.join(root, 'none', 'n2.jpg'), takenAt: at(3) },
      {
        label: 0,
        name: `scan ${path.join('apple', 'a1.jpg')}`,
        path: path.join(root, 'scans', 'apple', 'a1.jpg'),
        takenAt: at(1),
      },
    ]);
    assert.deepEqual(warnings, ['scans of kiwi left out: no product of that name among the photos']);
  });

  it('reads either folder alone, and nothing without them', async () => {
    const products = await readScanFolders(labels, path.join(root, 'scans'));
    assert.deepEqual(
      products.scans.map((s) => [s.label, s.name]),
      [
        [0, `scan ${path.join('apple', 'a2.jpg')}`],
        [1, `scan ${path.join('pear', 'p1.jpg')}`],
        [0, `scan ${path.join('apple', 'a1.jpg')}`],
      ],
    );
    assert.deepEqual(products.warnings, ['scans of kiwi left out: no product of that name among the photos']);

    const none = await readScanFolders(labels, undefined, path.join(root, 'none'));
    assert.deepEqual(none, {
      scans: [
        { label: null, name: 'scan n1.jpg (none)', path: path.join(root, 'none', 'n1.jpg'), takenAt: at(6) },
        { label: null, name: 'scan n2.jpg (none)', path: path.join(root, 'none', 'n2.jpg'), takenAt: at(3) },
      ],
      warnings: [],
    });

    assert.deepEqual(await readScanFolders(labels), { scans: [], warnings: [] });
  });

  it('keeps the newest MAX_SCANS_PER_PRODUCT × labels scans, and says how many of how many', async () => {
    const { scans, warnings } = await readScanFolders(
      [{ id: 'only', name: 'Only' }],
      path.join(root, 'many'),
      path.join(root, 'many-none'),
    );
    assert.deepEqual(
      scans.map((s) => [s.label, s.name]),
      [
        [null, 'scan x.jpg (none)'],
        ...Array.from({ length: MAX_SCANS_PER_PRODUCT - 1 }, (_, i) => [
          0,
          `scan ${path.join('only', `${String(MAX_SCANS_PER_PRODUCT + 1 - i).padStart(2, '0')}.jpg`)}`,
        ]),
      ],
    );
    assert.equal(scans.length, 10);
    assert.equal(scans[scans.length - 1].name, `scan ${path.join('only', '03.jpg')}`);
    assert.deepEqual(warnings, [
      `kept the newest 10 of 13 scans (at most ${MAX_SCANS_PER_PRODUCT} a product on the mean)`,
    ]);
  });

  it('keeps the folder order for scans modified at the same time', async () => {
    const dir = path.join(root, 'same');
    for (const file of ['scans/pear/b.jpg', 'scans/apple/z.jpg', 'scans/apple/c.jpg', 'none/a.jpg'])
      await write(path.join('same', file), 30);
    const { scans } = await readScanFolders(labels, path.join(dir, 'scans'), path.join(dir, 'none'));
    assert.deepEqual(
      scans.map((s) => s.name),
      [
        `scan ${path.join('apple', 'c.jpg')}`,
        `scan ${path.join('apple', 'z.jpg')}`,
        `scan ${path.join('pear', 'b.jpg')}`,
        'scan a.jpg (none)',
      ],
    );
  });

  it('passes on the photo folder warnings, prefixed with "scans:"', async () => {
    const { scans, warnings } = await readScanFolders(labels, path.join(root, 'loose'));
    assert.deepEqual(
      scans.map((s) => [s.label, s.name]),
      [[0, `scan ${path.join('apple', 'a.jpg')}`]],
    );
    assert.deepEqual(warnings, [
      `scans: 1 file(s) directly in ${path.join(root, 'loose')} ignored: photos belong in one sub-folder per label`,
    ]);
  });

  it('refuses folders it cannot read', async () => {
    const missing = path.join(root, 'missing');
    await assert.rejects(
      readScanFolders(labels, undefined, missing),
      new DatasetError(`cannot read the scans folder ${missing}: ENOENT`),
    );
    await assert.rejects(
      readScanFolders(labels, missing),
      new DatasetError(`cannot read the images folder ${missing}: ENOENT`),
    );
    await assert.rejects(
      readScanFolders(labels, path.join(root, 'flat')),
      new DatasetError(
        `the images folder ${path.join(root, 'flat')} has no sub-folders: put each label's photos in a folder named after it`,
      ),
    );
  });
});
