/**
 * The PyTorch numbers that notebooks/02-optim reads are PyTorch's: the reference script
 * under notebooks/02-optim/reference/ is run again here and its output must equal the
 * committed JSON, value for value (so the file cannot drift from what torch computes,
 * nor be edited by hand). Skipped without PyTorch, except under CI=true.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PYTHON } from './helpers/torch';

const ROOT = path.resolve(__dirname, '..', '..');
const REF = path.join(ROOT, 'notebooks', '02-optim', 'reference');

interface Reference {
  torch: string;
  steps: number;
  runs: { surface: string; optimizer: string; iterates: number[][] }[];
}

describe('notebooks/02-optim/reference', function () {
  this.timeout(120_000);

  it('optim_torch.json is what torch_optim.py computes with PyTorch', function () {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-02-ref-'));
    try {
      const out = path.join(tmp, 'optim_torch.json');
      const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
      if (probe.error || probe.status !== 0) {
        const why = `PyTorch is not importable by ${PYTHON}: ${probe.error?.message ?? probe.stderr.trim()}`;
        if (process.env.CI === 'true') assert.fail(why);
        console.log(`      skipped: ${why}`);
        this.skip();
      }
      const r = spawnSync(PYTHON, [path.join(REF, 'torch_optim.py'), out], { encoding: 'utf8' });
      assert.equal(r.status, 0, `torch_optim.py failed:\n${r.stderr}`);
      const fresh = JSON.parse(fs.readFileSync(out, 'utf8')) as Reference;
      const committed = JSON.parse(fs.readFileSync(path.join(REF, 'optim_torch.json'), 'utf8')) as Reference;
      assert.ok(committed.runs.length >= 10 && committed.runs.every((run) => run.iterates.length === committed.steps + 1),
        'the committed JSON should hold every run with steps + 1 iterates');
      assert.deepEqual(fresh, committed,
        'notebooks/02-optim/reference/optim_torch.json differs from a fresh run of torch_optim.py: ' +
        'rerun `/usr/bin/python3 notebooks/02-optim/reference/torch_optim.py` and commit the JSON');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
