/**
 * A learner's own notebook, outside this checkout: the kernel still imports
 * `gradlab` (type-checked and at run time), and packages installed beside
 * the notebook (a `node_modules` in its folder or above) take precedence.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { KernelClient, type ExecuteOutcome } from '../kernel/client';
import { packageName, typeFallbackPath } from '../kernel/resolve';
import { ROOT } from './helpers/child';

/** Text the cell printed, or its error, for assertion messages. */
function shown(r: ExecuteOutcome): string {
  return r.outputs.map((m) => String(m.content.text ?? `${m.content.ename}: ${m.content.evalue}`)).join('');
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

describe('the gradlab kernel outside the checkout', function () {
  this.timeout(180_000);
  let tmp: string;
  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-anywhere-')));
    assert.ok(path.relative(ROOT, tmp).startsWith('..'), `${tmp} must be outside ${ROOT}`);
    for (let d = tmp; path.dirname(d) !== d; d = path.dirname(d)) {
      assert.ok(!fs.existsSync(path.join(d, 'node_modules', 'gradlab')), `a gradlab in ${d}/node_modules would make this test pointless`);
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("imports 'gradlab' and TensorFlow.js from a folder with no node_modules, types included", async () => {
    const dir = path.join(tmp, 'my-notes');
    // A learner's own module next to the notebook that imports gradlab itself (nested resolution).
    write(path.join(dir, 'helper.ts'), "import * as gl from 'gradlab';\nexport const banner: string = gl.describe();\n");
    const k = await KernelClient.start({ cwd: dir });
    try {
      const r = await k.execute(
        "import * as gl from 'gradlab';\nimport * as tf from '@tensorflow/tfjs';\nimport { banner } from './helper';\n" +
          "const d: string = gl.describe();\n" +
          "console.log(typeof gl.init, d.startsWith('gradlab '), banner.startsWith('gradlab '), tf.engine() === gl.tf.engine());\n" +
          "console.log(require.resolve('gradlab'));",
      );
      assert.equal(r.status, 'ok', shown(r));
      const [first, where] = shown(r).trim().split('\n');
      assert.equal(first, 'function true true true');
      assert.equal(where, path.join(ROOT, 'dist', 'src', 'index.js'));
      // The types are the real ones, not `any`: a wrong use is a type error.
      const bad = await k.execute("import * as gl2 from 'gradlab';\nconst n: number = gl2.describe();");
      assert.equal(bad.status, 'error');
      assert.match(shown(bad), /Type 'string' is not assignable to type 'number'/);
      // Only the fallback packages: the kernel's other dependencies stay invisible to notebooks.
      const other = await k.execute("import * as z from 'zeromq';\nconsole.log(typeof z);");
      assert.equal(other.status, 'error');
      assert.match(shown(other), /Cannot find module 'zeromq'/);
    } finally {
      await k.shutdown();
    }
  });

  it('imports the packages installed beside the notebook, and they take precedence over the kernel\'s', async () => {
    const proj = path.join(tmp, 'proj');
    const nm = path.join(proj, 'node_modules');
    write(path.join(nm, 'somepkg', 'package.json'), JSON.stringify({ name: 'somepkg', version: '1.2.3', main: 'index.js', types: 'index.d.ts' }));
    write(path.join(nm, 'somepkg', 'index.js'), 'exports.triple = (x) => 3 * x;\n');
    write(path.join(nm, 'somepkg', 'index.d.ts'), 'export declare function triple(x: number): number;\n');
    // The learner's own 'gradlab' (another version, say): theirs wins, for types and at run time.
    write(path.join(nm, 'gradlab', 'package.json'), JSON.stringify({ name: 'gradlab', version: '9.9.9', main: 'index.js', types: 'index.d.ts' }));
    write(path.join(nm, 'gradlab', 'index.js'), "exports.mine = 'the local gradlab';\n");
    write(path.join(nm, 'gradlab', 'index.d.ts'), 'export declare const mine: string;\n');
    // The notebook sits one folder below, so the node_modules is above it.
    const dir = path.join(proj, 'notebooks');
    fs.mkdirSync(dir, { recursive: true });
    const k = await KernelClient.start({ cwd: dir });
    try {
      const r = await k.execute(
        "import { triple } from 'somepkg';\nimport { mine } from 'gradlab';\nconst t: number = triple(14);\nconsole.log(t, mine);",
      );
      assert.equal(r.status, 'ok', shown(r));
      assert.equal(shown(r), '42 the local gradlab\n');
      const bad = await k.execute("import { triple as tr } from 'somepkg';\nconst s: string = tr(1);");
      assert.equal(bad.status, 'error');
      assert.match(shown(bad), /Type 'number' is not assignable to type 'string'/);
      // The kernel's gradlab is not mixed in: the local one has no describe().
      const mixed = await k.execute("import * as g from 'gradlab';\ng.describe();");
      assert.equal(mixed.status, 'error');
      assert.match(shown(mixed), /Property 'describe' does not exist/);
      // TensorFlow.js is not installed there, so it still comes from the kernel.
      const tf = await k.execute("import * as tf from '@tensorflow/tfjs';\nconsole.log(tf.tensor([1, 2]).shape.join('x'));");
      assert.equal(tf.status, 'ok', shown(tf));
      // (tfjs prints its "install the node backend" notice on first use: only the last line is the cell's.)
      assert.match(shown(tf), /(^|\n)2\n$/);
    } finally {
      await k.shutdown();
    }
  });

  it('runs a notebook outside the checkout with the headless runner (npm start)', () => {
    const dir = path.join(tmp, 'headless');
    const nb = {
      nbformat: 4, nbformat_minor: 5, metadata: {},
      cells: [
        { cell_type: 'code', id: 'a', metadata: {}, execution_count: null, outputs: [],
          source: "import * as gl from 'gradlab';\nconst v: string = gl.describe();\nconsole.log('ok', v.startsWith('gradlab '));" },
      ],
    };
    write(path.join(dir, 'mine.ipynb'), JSON.stringify(nb));
    const out = path.join(tmp, 'out');
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'kernel', 'run.js'), '--out', out, path.join(dir, 'mine.ipynb')], {
      cwd: dir, encoding: 'utf8', timeout: 150_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const executed = fs.readdirSync(out, { recursive: true }).map(String).find((f) => f.endsWith('mine.ipynb'));
    assert.ok(executed, `no executed copy under ${out}: ${fs.readdirSync(out, { recursive: true }).join(', ')}`);
    const text = JSON.parse(fs.readFileSync(path.join(out, executed), 'utf8')).cells[0].outputs.map((o: { text?: string[] | string }) =>
      [o.text ?? ''].flat().join('')).join('');
    assert.equal(text, 'ok true\n');
  });
});

describe('kernel module fallback (units)', () => {
  it('names the package of a request', () => {
    assert.equal(packageName('gradlab'), 'gradlab');
    assert.equal(packageName('gradlab/dist/src/index'), 'gradlab');
    assert.equal(packageName('@tensorflow/tfjs'), '@tensorflow/tfjs');
    assert.equal(packageName('@tensorflow/tfjs-core/dist/x'), '@tensorflow/tfjs-core');
    assert.equal(packageName('./gradlab'), undefined);
    assert.equal(packageName('/abs/gradlab'), undefined);
    assert.equal(packageName('node:fs'), undefined);
    assert.equal(packageName('@scope'), undefined);
  });

  it('maps only /node_modules/<fallback package>/... to the kernel copy', () => {
    const dirs = new Map([['gradlab', '/k/gradlab'], ['@tensorflow/tfjs', '/k/nm/@tensorflow/tfjs']]);
    // A made-up file-system root with no node_modules in it, so nothing real shadows the mapping.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-root-'));
    try {
      const nm = path.join(root, 'node_modules');
      assert.equal(typeFallbackPath(path.join(nm, 'gradlab', 'package.json'), dirs, root), '/k/gradlab/package.json');
      assert.equal(typeFallbackPath(path.join(nm, 'gradlab'), dirs, root), '/k/gradlab');
      assert.equal(typeFallbackPath(path.join(nm, '@tensorflow', 'tfjs', 'dist', 'index.d.ts'), dirs, root), '/k/nm/@tensorflow/tfjs/dist/index.d.ts');
      for (const p of [path.join(nm, 'zeromq', 'package.json'), path.join(nm, 'gradlab.d.ts'), path.join(root, 'x', 'node_modules', 'gradlab'), nm]) {
        assert.equal(typeFallbackPath(p, dirs, root), p);
      }
      // A real <root>/node_modules/gradlab is used as it is.
      fs.mkdirSync(path.join(nm, 'gradlab'), { recursive: true });
      assert.equal(typeFallbackPath(path.join(nm, 'gradlab', 'package.json'), dirs, root), path.join(nm, 'gradlab', 'package.json'));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
