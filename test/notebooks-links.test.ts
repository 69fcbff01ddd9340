/**
 * The chapter notebooks link to each other: every relative link in a notebook's
 * Markdown (to a notebook, with or without an anchor, or to another file of the
 * repository) points at a file that exists, and each chapter's 00-index links to
 * every notebook of its chapter. A learner never meets a dead link.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { listNotebooks } from '../kernel/run';
import { ROOT } from './helpers/child';

const NOTEBOOKS = path.join(ROOT, 'notebooks');

interface Cell {
  cell_type: string;
  source: string | string[];
}

/** Relative link targets in Markdown (`[text](target)`), without anchors; absolute URLs and pure anchors skipped. */
export function relativeLinks(markdown: string): string[] {
  const out: string[] = [];
  for (const m of markdown.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    out.push(decodeURIComponent(target.split('#')[0]));
  }
  return out;
}

describe('links between the chapter notebooks', () => {
  const notebooks = listNotebooks(NOTEBOOKS);

  it('relativeLinks finds relative targets and skips URLs and anchors', () => {
    assert.deepEqual(relativeLinks('see [a](01-x.ipynb#sec), [b](https://x.org/y), [c](#top), [d](../02-optim/00-index.ipynb)'), [
      '01-x.ipynb',
      '../02-optim/00-index.ipynb',
    ]);
  });

  for (const file of notebooks) {
    const rel = path.relative(ROOT, file);
    it(`${rel}: every relative link points at an existing file`, () => {
      const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: Cell[] };
      const dead: string[] = [];
      nb.cells.forEach((c, i) => {
        if (c.cell_type !== 'markdown') return;
        const text = Array.isArray(c.source) ? c.source.join('') : c.source;
        for (const t of relativeLinks(text)) if (!fs.existsSync(path.resolve(path.dirname(file), t))) dead.push(`cell ${i}: ${t}`);
      });
      assert.deepEqual(dead, [], `${rel} links to files that do not exist:\n  ${dead.join('\n  ')}`);
    });
  }

  const chapters = fs.readdirSync(NOTEBOOKS, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.'));
  for (const ch of chapters) {
    it(`notebooks/${ch.name}/00-index links to every notebook of the chapter`, () => {
      const dir = path.join(NOTEBOOKS, ch.name);
      const index = path.join(dir, '00-index.ipynb');
      assert.ok(fs.existsSync(index), `notebooks/${ch.name} has no 00-index.ipynb`);
      const nb = JSON.parse(fs.readFileSync(index, 'utf8')) as { cells: Cell[] };
      const linked = new Set(nb.cells.filter((c) => c.cell_type === 'markdown').flatMap((c) => relativeLinks(Array.isArray(c.source) ? c.source.join('') : c.source)));
      const missing = fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb') && f !== '00-index.ipynb' && !linked.has(f));
      assert.deepEqual(missing, [], `notebooks/${ch.name}/00-index.ipynb does not link to ${missing.join(', ')}`);
    });
  }
});
