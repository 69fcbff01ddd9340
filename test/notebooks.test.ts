/**
 * Every chapter notebook under notebooks/ runs top to bottom, twice: in
 * gradlab's own Node runner and in Jupyter's nbclient (nbconvert --execute)
 * with the gradlab kernelspec; and its committed source carries no outputs.
 */
import { strict as assert } from 'assert';
import { execFile, execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { listNotebooks } from '../kernel/run';
import { serializeNotebook } from '../kernel/notebook';
import { formatFailure, runNotebook } from '../kernel/runner';
import { KERNEL_NAME, jupyterPathWithKernel } from '../kernel/spec';

const ROOT = path.resolve(__dirname, '..', '..');
const NOTEBOOKS = path.join(ROOT, 'notebooks');
const NOTEBOOK_MS = 20 * 60_000;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-notebooks-test-'));
const RUNTIME = path.join(TMP, 'runtime');
const ENV = { ...process.env, JUPYTER_RUNTIME_DIR: RUNTIME, JUPYTER_PLATFORM_DIRS: '1' };

/** How to call nbconvert here, or why it cannot be called. */
function findNbconvert(): { cmd: string[] } | { missing: string } {
  const py = '/usr/bin/python3';
  if (fs.existsSync(py) && spawnSync(py, ['-c', 'import nbconvert, nbclient'], { stdio: 'ignore' }).status === 0) {
    return { cmd: [py, '-m', 'nbconvert'] };
  }
  if (spawnSync('jupyter-nbconvert', ['--version'], { stdio: 'ignore' }).status === 0) return { cmd: ['jupyter-nbconvert'] };
  return { missing: 'nbconvert is not installed (/usr/bin/python3 -m nbconvert and jupyter-nbconvert both failed); apt install jupyter-nbconvert python3-nbclient' };
}

/** A JUPYTER_PATH folder holding only the gradlab kernelspec. */
function kernelspecDir(): string {
  return jupyterPathWithKernel(path.join(TMP, 'jupyter'));
}

function run(cmd: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd[0], cmd.slice(1), { env, timeout: NOTEBOOK_MS, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr }));
  });
}

interface SavedCell {
  cell_type: string;
  execution_count?: number | null;
  outputs?: { output_type: string; ename?: string; evalue?: string }[];
}

const notebooks = listNotebooks(NOTEBOOKS);

describe('the chapter notebooks', function () {
  after(() => fs.rmSync(TMP, { recursive: true, force: true }));

  it('exist: notebooks/ holds at least one notebook', () => {
    assert.ok(notebooks.length > 0, `no .ipynb files under ${NOTEBOOKS}`);
  });

  for (const file of notebooks) {
    const rel = path.relative(ROOT, file);
    describe(rel, function () {
      this.timeout(NOTEBOOK_MS);

      it('is committed without outputs or execution counts', () => {
        const nb = JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: SavedCell[] };
        nb.cells.forEach((c, i) => {
          if (c.cell_type !== 'code') return;
          assert.deepEqual(c.outputs, [], `cell index ${i} has outputs; clear them before committing`);
          assert.equal(c.execution_count, null, `cell index ${i} has an execution count`);
        });
      });

      it('runs top to bottom in the Node runner', async () => {
        const r = await runNotebook(file, { timeoutMs: 600_000, env: ENV });
        // Keep the executed copy where `npm start` puts it (test/slides.test.ts builds decks from it).
        if (r.notebook) {
          const copy = path.join(ROOT, 'out', path.basename(path.dirname(file)), path.basename(file));
          fs.mkdirSync(path.dirname(copy), { recursive: true });
          fs.writeFileSync(copy, serializeNotebook(r.notebook));
        }
        assert.ok(r.ok, r.failure && formatFailure(rel, r.failure));
      });

      it("runs top to bottom in Jupyter's nbclient (nbconvert --execute) with the gradlab kernelspec", async function () {
        const nbconvert = findNbconvert();
        if ('missing' in nbconvert) {
          if (process.env.CI === 'true') assert.fail(nbconvert.missing);
          console.log(`      skipped: ${nbconvert.missing}`);
          this.skip();
        }
        const outDir = fs.mkdtempSync(path.join(TMP, 'nbconvert-'));
        const r = await run([...nbconvert.cmd, '--to', 'notebook', '--execute',
          `--ExecutePreprocessor.kernel_name=${KERNEL_NAME}`, '--ExecutePreprocessor.timeout=600',
          '--output-dir', outDir, file], { ...ENV, JUPYTER_PATH: kernelspecDir() });
        assert.equal(r.code, 0, `nbconvert failed:\n${r.out.slice(-4000)}`);
        const out = JSON.parse(fs.readFileSync(path.join(outDir, path.basename(file)), 'utf8')) as { cells: SavedCell[] };
        // (tslab sends no execute_input, so nbclient leaves execution counts empty: not checked.)
        const errors = out.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'error');
        assert.deepEqual(errors, []);
      });
    });
  }

  describe('afterwards', () => {
    it('no kernel processes are left behind', () => {
      const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
      assert.deepEqual(ps.split('\n').filter((l) => l.includes(TMP)), []);
    });
  });
});
