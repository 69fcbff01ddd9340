import { strict as assert } from 'assert';
import * as gl from '../src';
import { runGradlab } from './helpers/child';

const tf = gl.tf;

/** A small matmul whose exact answer we know: ones(8x16) @ (j+1 per column). */
async function matmulCheck(): Promise<number[]> {
  const a = tf.ones([8, 16]);
  const b = tf.tile(tf.range(1, 5).reshape([1, 4]), [16, 1]);
  const c = tf.matMul(a, b);
  const row = Array.from((await c.data()).slice(0, 4));
  tf.dispose([a, b, c]);
  return row;
}

describe('backend selection', () => {
  afterEach(() => {
    delete process.env.GRADLAB_BACKEND;
  });

  it('forces cpu and reports a one-thread CPU device', async () => {
    const info = await gl.init({ backend: 'cpu' });
    assert.equal(info.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.equal(info.isGpu, false);
    assert.equal(info.threads, 1);
    assert.deepEqual(await matmulCheck(), [16, 32, 48, 64]);
  });

  it('forces wasm and reports SIMD with one thread', async () => {
    const info = await gl.init({ backend: 'wasm' });
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(info.device, 'CPU, SIMD, 1 thread');
    assert.equal(info.threads, 1);
    assert.match(info.versions['@tensorflow/tfjs-backend-wasm'] ?? '', /^\d+\.\d+\.\d+$/);
    assert.deepEqual(await matmulCheck(), [16, 32, 48, 64]);
  });

  it('lets GRADLAB_BACKEND override the option', async () => {
    process.env.GRADLAB_BACKEND = 'cpu';
    const info = await gl.init({ backend: 'wasm' });
    assert.equal(info.name, 'cpu');
  });

  it('rejects an unknown backend name and lists the valid ones', async () => {
    await assert.rejects(gl.init({ backend: 'cuda' as never }), /unknown backend 'cuda'; use one of auto, tensorflow, webgpu, wasm, cpu/);
    process.env.GRADLAB_BACKEND = 'tpu';
    await assert.rejects(gl.init(), /GRADLAB_BACKEND: unknown backend 'tpu'/);
  });

  it('describes the chosen backend in a one-line banner', async () => {
    const info = await gl.init({ backend: 'wasm' });
    const line = gl.describe();
    assert.equal(line.includes('\n'), false);
    assert.match(line, /^gradlab \d+\.\d+\.\d+ \| backend wasm \| CPU, SIMD, 1 thread \| tfjs 4\.\d+\.\d+ \| Node v\d+/);
    assert.equal(gl.describe(info), line);
  });

  it('auto picks wasm on a machine without a GPU, and says what it skipped', function () {
    if (gl.nvidiaGpu()) this.skip(); // an NVIDIA GPU is visible: auto may rightly pick it
    const r = runGradlab(`const info = await gl.init(); console.log(JSON.stringify(info));`);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as gl.BackendInfo;
    if (info.name === 'webgpu') {
      assert.equal(info.software, false, 'auto must never pick a software adapter');
      return;
    }
    assert.equal(info.name, 'wasm');
    assert.deepEqual(info.skipped.map((s) => s.backend), ['tensorflow', 'webgpu', 'tensorflow']);
    assert.match(info.skipped[0]?.reason ?? '', /no NVIDIA GPU visible/);
  });

  it("leaves the process's own error handlers in charge after loading wasm (its Emscripten glue adds handlers that rethrow)", () => {
    // In the kernel, a stray error (a timer that throws, a promise nobody awaited) must be
    // reported and the session kept; the glue's handlers made both fatal.
    const r = runGradlab(`
      const seen = [];
      process.on('uncaughtException', (e) => seen.push(e.message));
      const count = () => [process.listeners('uncaughtException').length, process.listeners('unhandledRejection').length];
      const before = count();
      await gl.init({ backend: 'wasm' });
      const after = count();
      setTimeout(() => { throw new Error('stray timer'); }, 5);
      Promise.reject(new Error('nobody awaited this'));
      await new Promise((r) => setTimeout(r, 200));
      console.log(JSON.stringify({ before, after, seen }));
    `);
    assert.equal(r.status, 0, `the process died: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { before: number[]; after: number[]; seen: string[] };
    assert.deepEqual(out.after, out.before, 'loading wasm adds no process handlers');
    assert.deepEqual(out.seen.sort(), ['nobody awaited this', 'stray timer']);
  });

  it('fails to force tensorflow here with the CUDA and cuDNN versions it needs and how to install it', async function () {
    if (gl.nvidiaGpu()) this.skip();
    await assert.rejects(gl.init({ backend: 'tensorflow' }), (e: Error) => {
      assert.equal(e.name, 'BackendError');
      assert.match(e.message, /backend 'tensorflow' cannot load here/);
      assert.match(e.message, /CUDA 11\.2 and cuDNN 8\.1/);
      assert.match(e.message, /npm install @tensorflow\/tfjs-node-gpu/);
      assert.match(e.message, /use backend 'auto'/);
      return true;
    });
  });
});

describe('webgpu backend (in a child process: the Dawn path is fragile)', () => {
  it('runs forced on the software adapter, says "software", and computes what cpu computes', function () {
    const r = runGradlab(
      `const info = await gl.init({ backend: 'webgpu' });
       const a = gl.tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
       const b = gl.tf.tensor2d([[1, 0], [0, 1], [1, 1]]);
       const c = gl.tf.relu(gl.tf.sub(gl.tf.matMul(a, b), 5));
       console.log(JSON.stringify({ info, values: Array.from(await c.data()) }));`,
      { GRADLAB_BACKEND: undefined },
      180_000,
    );
    if (r.status !== 0 && /found no GPU adapter/.test(r.stderr)) {
      // No Mesa EGL/GLES here: .ci/run installs it, so CI must not get here.
      if (process.env.CI === 'true') assert.fail(`webgpu: no adapter in CI:\n${r.stderr}`);
      this.skip();
    }
    assert.equal(r.status, 0, r.stderr);
    const { info, values } = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { info: gl.BackendInfo; values: number[] };
    assert.equal(info.name, 'webgpu');
    assert.equal(info.isGpu, true);
    if (info.software) assert.match(info.device, /\(software\)$/);
    assert.match(gl.describe(info), /backend webgpu \| GPU: /);
    // [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]; minus 5, relu
    assert.deepEqual(values, [0, 0, 5, 6]);
  });
});

describe('debug mode on webgpu, which reads back only asynchronously', () => {
  it('names the first op that produced NaN, at checkDebug() instead of at the op', function () {
    const r = runGradlab(
      `await gl.init({ backend: 'webgpu' });
       gl.ag.setDebug(true);
       const big = gl.tf.sub(gl.tf.range(0, 4096), 1); // large enough to live on the device: log(-1) is NaN
       const x = gl.ag.tensor(big);
       let at = 'none';
       try { gl.ag.log(x).dispose(); } catch (e) { at = 'OP ' + e.message; }
       try { await gl.ag.checkDebug(); } catch (e) { at = at === 'none' ? 'CHECK ' + e.message : at; }
       x.dispose();
       console.log(at);`,
      {},
      180_000,
    );
    if (r.status !== 0 && /found no GPU adapter/.test(r.stderr)) {
      if (process.env.CI === 'true') assert.fail(`webgpu: no adapter in CI:\n${r.stderr}`);
      this.skip();
    }
    assert.equal(r.status, 0, r.stderr);
    const last = r.stdout.trim().split('\n').pop() ?? '';
    // Deferred where the device cannot read back synchronously (Dawn in Node), at the op where it can.
    assert.match(last, /^(CHECK|OP) debug: log produced a non-finite output \[4096\]: NaN at \[0\]/);
  });
});
