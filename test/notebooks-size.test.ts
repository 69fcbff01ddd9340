/**
 * The size knob in the chapter notebooks (lecture mode): every notebook's first code cell
 * calls `gl.sized(` and prints `size.describe()`, every topic notebook declares at least one
 * knob, and each knob is used (`size.<name>`) in a later cell. And one cheap notebook, run at GRADLAB_SIZE=medium, prints the medium size and
 * a size-dependent number that differs from the small run.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { listNotebooks } from '../kernel/run';
import { formatFailure, runNotebook } from '../kernel/runner';

const ROOT = path.resolve(__dirname, '..', '..');
const NOTEBOOKS = path.join(ROOT, 'notebooks');

interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: { output_type: string; name?: string; text?: string | string[] }[];
}
const text = (s: string | string[] | undefined) => (Array.isArray(s) ? s.join('') : (s ?? ''));

/** The knob names of the first `gl.sized({ ... })` call in `code`: the keys at the top level of its object literal. */
export function knobNames(code: string): string[] {
  const at = code.indexOf('gl.sized(');
  const open = code.indexOf('{', at);
  if (at < 0 || open < 0) return [];
  const names: string[] = [];
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    const ch = code[i];
    if (ch === '/' && code[i + 1] === '/') { i = code.indexOf('\n', i); if (i < 0) break; continue; }
    if (ch === '{' || ch === '[' || ch === '(') depth++;
    else if (ch === '}' || ch === ']' || ch === ')') { depth--; if (depth === 0) break; }
    else if (depth === 1) {
      const m = /^([A-Za-z_$][\w$]*)\s*:/.exec(code.slice(i));
      if (m && /[\s{,]/.test(code[i - 1])) { names.push(m[1]); i += m[0].length - 1; }
    }
  }
  return names;
}

function cellsOf(file: string): Cell[] {
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: Cell[] }).cells;
}

describe('size knobs in the notebooks', () => {
  const notebooks = listNotebooks(NOTEBOOKS);

  it('knobNames reads the top-level keys of the gl.sized object (not the sizes inside)', () => {
    const code = "const size = gl.sized({\n  steps: { small: 3, medium: 9, large: 27 },   // a: comment\n  width: { small: [1, 2], medium: [3], large: [4] },\n});";
    assert.deepEqual(knobNames(code), ['steps', 'width']);
    assert.deepEqual(knobNames('const size = gl.sized({});'), []);
  });

  it('every notebook calls gl.sized( in its first code cell', () => {
    const missing = notebooks
      .filter((f) => !text(cellsOf(f).find((c) => c.cell_type === 'code')?.source).includes('gl.sized('))
      .map((f) => path.relative(ROOT, f));
    assert.ok(notebooks.length >= 29, `only ${notebooks.length} notebooks found`);
    assert.deepEqual(missing, [], `these notebooks have no gl.sized( call in their first code cell:\n  ${missing.join('\n  ')}`);
  });

  for (const file of notebooks) {
    const rel = path.relative(ROOT, file);
    const code = cellsOf(file).filter((c) => c.cell_type === 'code').map((c) => text(c.source));
    const topic = !/^(00-index|99-solutions)\.ipynb$/.test(path.basename(file));
    it(`${rel}: prints size.describe() in its first cell and uses every knob it declares${topic ? ' (at least one: a topic notebook)' : ''}`, () => {
      assert.match(code[0] ?? '', /console\.log\(\s*size\.describe\(\)\s*\)/, `${rel}: the first code cell must print size.describe()`);
      if (topic) assert.ok(knobNames(code[0]!).length > 0, `${rel}: a topic notebook scales at least one experiment with the size`);
      const later = code.slice(1).join('\n');
      const unused = knobNames(code[0]).filter((k) => !new RegExp(`\\bsize\\.${k}\\b`).test(later));
      assert.deepEqual(unused, [], `${rel}: knobs declared but never used as size.<name> after the first cell: ${unused.join(', ')}`);
    });
  }
});

describe('the size knob at run time (02-optim/02-schedules, small and medium)', function () {
  this.timeout(240_000);
  const file = path.join(NOTEBOOKS, '02-optim', '02-schedules.ipynb');

  /** Everything a notebook printed on stdout, cell by cell. */
  function printed(cells: Cell[] | undefined): string {
    return (cells ?? []).filter((c) => c.cell_type === 'code')
      .flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'stream' && o.name === 'stdout').map((o) => text(o.text)).join('');
  }
  async function runAt(size: 'small' | 'medium'): Promise<string> {
    const env = { ...process.env, GRADLAB_SIZE: size, GRADLAB_BACKEND: process.env.GRADLAB_BACKEND ?? 'wasm' };
    const run = await runNotebook(file, { env, timeoutMs: 120_000 });
    assert.ok(run.ok, run.failure ? formatFailure(file, run.failure) : 'failed');
    return printed(run.notebook?.cells as Cell[] | undefined);
  }

  it('prints the chosen size and averages over size.noiseSeeds seeds (a different number at medium)', async () => {
    const [small, medium] = [await runAt('small'), await runAt('medium')];
    assert.match(small, /^size small \(GRADLAB_SIZE=small\): noiseSeeds 50 \|/m);
    assert.match(medium, /^size medium \(GRADLAB_SIZE=medium\): noiseSeeds 200 \|/m);
    const line = (out: string) => /mean over (\d+) seeds: constant η = 0\.05 → ([\d.]+); cosine decay 0\.05 → 0 → ([\d.]+)/.exec(out);
    const [s, m] = [line(small), line(medium)];
    assert.ok(s && m, `the noise-floor line is missing:\nsmall: ${small.slice(0, 400)}\nmedium: ${medium.slice(0, 400)}`);
    assert.equal(s[1], '50');
    assert.equal(m[1], '200');
    assert.notEqual(m[2], s[2], 'the mean over 200 seeds should differ from the mean over 50');
  });
});
