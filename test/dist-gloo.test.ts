/**
 * The PyTorch reference for the collectives (bench/dist_gloo.py through
 * bench/dist-gloo.ts's glooReference): 2 gloo ranks over loopback at 1 KiB …
 * 1 MiB, a few seconds. The script checks each result itself (all-reduce: the
 * exact sum; all-gather: every rank's block; broadcast: the root's values); here
 * the rows' shape, the nccl-tests bandwidths recomputed, reduce_scatter reported
 * unsupported by gloo in torch 1.13, and the α–β fit. Skips without PyTorch,
 * except under CI=true.
 */
import { strict as assert } from 'assert';
import { glooReference, type GlooReference } from '../bench/dist-gloo';
import { busbwFactor } from '../src/dist/cost';
import { runTorch, needTorch, type TorchRun } from './helpers/torch';

describe('bench/dist_gloo.py: torch.distributed gloo reference', function () {
  let probe: TorchRun<string> | undefined;
  let ref: GlooReference;
  before(function () {
    probe = runTorch<string>('import torch.distributed as dist\nOUTPUT = str(dist.is_available() and dist.is_gloo_available())', {});
    if (!probe.ok || probe.output !== 'True') return;
    ref = glooReference({ worlds: [2], minBytes: 1024, maxBytes: 2 ** 20, timeoutMs: 120_000 });
  });

  it('all_reduce, all_gather, broadcast rows: correct results, nccl-tests bandwidths', function () {
    const ok = needTorch(this, probe);
    assert.equal(ok, 'True', 'torch.distributed with gloo is not available');
    const sizes = [1024, 4096, 16384, 65536, 262144, 1048576];
    for (const c of ['all_reduce', 'all_gather', 'broadcast'] as const) {
      const rows = ref.rows.filter((r) => r.collective === c);
      assert.deepEqual(rows.map((r) => r.bytes), sizes, c);
      for (const r of rows) {
        assert.equal(r.n, 2);
        assert.equal(r.correct, true, `${c} ${r.bytes}`);
        assert.ok(r.best > 0 && r.best <= r.median && r.seconds === r.best, `${c} ${r.bytes}: times ${r.best} ${r.median}`);
        assert.ok(Math.abs(r.algbw - r.bytes / r.best) <= 1e-9 * r.algbw);
        const f = busbwFactor(c === 'all_reduce' ? 'all-reduce' : c === 'all_gather' ? 'all-gather' : 'broadcast', 2);
        assert.ok(Math.abs(r.busbw - r.algbw * f) <= 1e-9 * r.busbw);
        assert.equal(r.reps, 20);
      }
    }
    assert.ok(ref.torch.startsWith('1.') || ref.torch.startsWith('2.'), ref.torch);
  });

  it('reports reduce_scatter as unsupported by gloo (torch 1.13), or measures it', function () {
    needTorch(this, probe);
    const rs = ref.rows.filter((r) => r.collective === 'reduce_scatter');
    const un = ref.unsupported.filter((u) => u.collective === 'reduce_scatter');
    assert.ok((rs.length === 6 && un.length === 0) || (rs.length === 0 && un.length === 1 && /reduce_scatter/.test(un[0]!.error)), JSON.stringify(un));
  });

  it('the script fails on a wrong result (its self-check can fail)', function () {
    needTorch(this, probe);
    assert.throws(
      () => glooReference({ worlds: [2], minBytes: 1024, maxBytes: 1024, collectives: ['all_reduce'], env: { GRADLAB_GLOO_CORRUPT: '1' }, timeoutMs: 60_000 }),
      /all_reduce at 1024 bytes with 2 ranks gave a wrong result/,
    );
  });

  it('fits α and β per collective with positive values', function () {
    needTorch(this, probe);
    const fit = ref.fits.find((f) => f.collective === 'all_reduce' && f.n === 2)!;
    assert.ok(fit, 'no all_reduce fit');
    assert.ok(fit.alpha > 0 && fit.alpha < 0.01, `alpha ${fit.alpha}`);
    assert.ok(fit.beta > 0 && fit.bandwidth > 1e7, `bandwidth ${fit.bandwidth}`);
  });
});
