/**
 * gl.io checkpoints: save / load of model, optimiser, scheduler, random streams,
 * loader and step without leaks; the checksum recomputed independently in Python;
 * corrupt and mismatched files refused with a clear error and nothing changed;
 * crash safety with real SIGKILLs (paused before the rename, and at random
 * moments of a save loop); and a training run killed with SIGKILL that resumes in
 * a new process bit for bit equal to an uninterrupted run.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as ag from '../src/autograd';
import { tf } from '../src/backend/tf';
import { rng, Rng } from '../src/data/rng';
import * as io from '../src/io';
import * as nn from '../src/nn';
import * as optim from '../src/optim';
import { needWebgpu, useBackend } from './helpers/backend';
import { runGradlab } from './helpers/child';
import { benchCheckpoint } from '../bench/checkpoint';
import { needTorch, runTorch, type TorchRun } from './helpers/torch';

const FIXTURES = join(__dirname, 'fixtures', 'io');

/** Every parameter's float32 bits, by name. */
async function paramBits(m: io.HasNamedParameters): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of m.namedParameters()) out[name] = Array.from(new Uint32Array(((await p.data.data()) as Float32Array).slice().buffer));
  return out;
}

/** The optimiser's per-parameter steps and buffer bits, and its lrs. */
async function optimBits(opt: optim.Optimizer<any>): Promise<unknown> {
  const sd = opt.stateDict();
  const out: Record<string, unknown> = { groups: JSON.stringify(sd.paramGroups) };
  for (const [i, st] of Object.entries(sd.state)) {
    out[i] = { step: st.step, ...Object.fromEntries(await Promise.all(Object.entries(st.buffers).map(async ([k, b]) => [k, Array.from(new Uint32Array(((await b.data()) as Float32Array).slice().buffer))]))) };
    tf.dispose(Object.values(st.buffers));
  }
  return out;
}

/** A few AdamW steps on a fixed problem, so the optimiser has state. */
async function train(model: nn.Module, opt: optim.Optimizer<any>, sched: optim.LRScheduler | null, steps: number, seed: number): Promise<void> {
  const r = rng(seed);
  for (let i = 0; i < steps; i++) {
    const x = r.normalTensor([4, 5]);
    const loss = nn.crossEntropy(model.forward(x), [0, 1, 2, 1]);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    sched?.step();
    loss.dispose();
    x.dispose();
  }
}

interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Run a fixture script; `kill(line, killNow)` returning true sends SIGKILL at that stdout line (or call `killNow` later). */
function runChild(script: string, args: string[], { env = {}, kill }: { env?: Record<string, string>; kill?: (line: string, killNow: () => void) => boolean } = {}): Promise<Child> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(FIXTURES, script), ...args], { env: { ...process.env, GRADLAB_BACKEND: undefined, ...env } });
    const lines: string[] = [];
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      buf += String(d);
      let k: number;
      while ((k = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, k);
        buf = buf.slice(k + 1);
        lines.push(line);
        if (kill?.(line, () => child.kill('SIGKILL'))) child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, lines, stderr }));
  });
}

const mlp = (hidden = 8, seed = 1) => new nn.MLP([5, hidden, 3], { rng: seed });

describe('io: checkpoints', function () {
  this.timeout(300_000);
  let dir: string;
  before(async () => {
    await useBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'gradlab-io-ck-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('saves and loads model, optimiser, scheduler, streams, loader, step and extra, without leaking; training continues identically', async () => {
    const a = mlp(8, 1);
    const optA = new optim.AdamW(a.parameters(), { lr: 0.01 });
    const schedA = new optim.CosineAnnealingLR(optA, { tMax: 20 });
    await train(a, optA, schedA, 3, 0);
    const rA = rng(5);
    rA.normal(); // leaves a Box–Muller spare in the state
    let loaderState = { pos: 17, epoch: 2 };
    const loader = { state: () => loaderState, loadState: (s: typeof loaderState) => (loaderState = s) };
    const path = join(dir, 'a.safetensors');
    const n0 = tf.memory().numTensors;
    const res = await io.saveCheckpoint(path, { model: a, optimizer: optA, scheduler: schedA, rng: { main: rA }, loader, step: 3, extra: { best: 0.5, tags: ['x'] } });
    assert.equal(tf.memory().numTensors, n0, 'save leaks nothing');
    assert.equal(readFileSync(path).length, res.bytes);
    assert.match(res.checksum, /^crc32:[0-9a-f]{8}$/);
    assert.deepEqual(res.tensors.filter((t) => !t.startsWith('optim.')).sort(), ['layers.0.bias', 'layers.0.weight', 'layers.1.bias', 'layers.1.weight']);
    assert.ok(res.tensors.includes('optim.state.0.expAvg') && res.tensors.includes('optim.state.3.expAvgSq'));

    const b = mlp(8, 2);
    const optB = new optim.AdamW(b.parameters(), { lr: 0.01 });
    const schedB = new optim.CosineAnnealingLR(optB, { tMax: 20 });
    await train(b, optB, schedB, 1, 9); // some other state, to be replaced
    const rB = rng(99);
    loaderState = { pos: 0, epoch: 0 };
    const n1 = tf.memory().numTensors;
    const out = await io.loadCheckpoint(path, { model: b, optimizer: optB, scheduler: schedB, rng: { main: rB }, loader });
    assert.equal(tf.memory().numTensors, n1, 'load leaks nothing (same number of tensors as before)');
    assert.equal(out.step, 3);
    assert.deepEqual(out.extra, { best: 0.5, tags: ['x'] });
    assert.equal(out.info.gradlabVersion, JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')).version);
    assert.deepEqual(loaderState, { pos: 17, epoch: 2 });
    assert.deepEqual(rB.state(), rA.state(), 'the stream is restored in place (with its spare)');
    assert.deepEqual(await paramBits(b), await paramBits(a));
    assert.deepEqual(await optimBits(optB), await optimBits(optA));
    assert.deepEqual(schedB.getLastLr(), schedA.getLastLr());
    // Continue both: identical bit for bit.
    await train(a, optA, schedA, 4, 11);
    await train(b, optB, schedB, 4, 11);
    assert.deepEqual(await paramBits(b), await paramBits(a));
    assert.equal(rB.nextUint32(), rA.nextUint32());
    for (const o of [optA, optB]) o.dispose();
    a.dispose();
    b.dispose();
  });

  it('saves and loads on webgpu (which reads back only asynchronously), in a child process', async function () {
    needWebgpu(this);
    const path = join(dir, 'webgpu.safetensors');
    const r = runGradlab(`
      await gl.init({ backend: 'webgpu' });
      if (gl.tf.getBackend() !== 'webgpu') throw new Error('not on webgpu: ' + gl.tf.getBackend());
      const bits = async (m) => Object.fromEntries(await Promise.all(m.namedParameters().map(async ([n, p]) => [n, Array.from(new Uint32Array((await p.data.data()).slice().buffer))])));
      const m = new gl.nn.MLP([4, 8, 3], { rng: 1 });
      const opt = new gl.optim.AdamW(m.parameters(), { lr: 0.01 });
      const l = gl.nn.crossEntropy(m.forward(gl.tf.ones([2, 4])), [0, 1]); l.backward(); opt.step(); opt.zeroGrad(); l.dispose();
      const n0 = gl.tf.memory().numTensors;
      await gl.io.saveCheckpoint(${JSON.stringify(path)}, { model: m, optimizer: opt, step: 1 });
      const m2 = new gl.nn.MLP([4, 8, 3], { rng: 2 });
      const o2 = new gl.optim.AdamW(m2.parameters(), { lr: 0.01 });
      await gl.io.loadCheckpoint(${JSON.stringify(path)}, { model: m2, optimizer: o2 });
      console.log('RESULT ' + JSON.stringify({ saved: await bits(m), loaded: await bits(m2), leaked: gl.tf.memory().numTensors - n0 - 4 - 8 }));
    `);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('RESULT '))!.slice(7));
    assert.deepEqual(out.loaded, out.saved, 'loaded on webgpu = saved on webgpu, bit for bit');
    const ck = await io.readCheckpoint(path);
    for (const [name, b] of Object.entries(out.saved as Record<string, number[]>)) {
      assert.deepEqual(Array.from(new Uint32Array((ck.tensors.get(name)!.data as Float32Array).slice().buffer)), b, `${name} in the file`);
    }
    assert.equal(out.leaked, 0, 'only the second model (4 parameters) and its optimiser state (8 buffers) were added');
  });

  it('the checkpoint benchmark runs (a small size) and reports finite figures', async () => {
    const rs = await benchCheckpoint({ params: 100_000, repeats: 1 });
    assert.deepEqual(rs.map((r) => r.name.split(' ')[0]), ['save', 'load', 'CRC-32', 'save', 'load', 'CRC-32']);
    for (const r of rs) assert.ok(r.value > 0 && Number.isFinite(r.ratio) && r.ratio > 0, `${r.name}: ${r.value} ${r.unit}, ${r.ratio}x`);
  });

  describe('checked independently in Python', () => {
    let py: TorchRun<any> | undefined;
    let want: Record<string, number[]>;
    let checksum = '';
    before(async function () {
      const m = mlp(8, 3);
      const opt = new optim.AdamW(m.parameters(), { lr: 0.01 });
      await train(m, opt, null, 2, 1);
      const path = join(dir, 'py.safetensors');
      checksum = (await io.saveCheckpoint(path, { model: m, optimizer: opt, step: 2, extra: { note: 'héllo' } })).checksum;
      want = await paramBits(m);
      opt.dispose();
      m.dispose();
      py = runTorch(PY_VERIFY, { path });
    });

    it('Python recomputes the CRC-32 (data + canonical header, zlib.crc32) and reads the parameters bit for bit', function () {
      const out = needTorch(this, py);
      assert.equal(out.recorded, checksum);
      assert.equal(out.computed, checksum, 'the checksum as documented, recomputed by zlib.crc32');
      assert.deepEqual(out.params, want);
      assert.equal(out.step, '2');
      assert.deepEqual(out.optim_steps, { '0': 2, '1': 2, '2': 2, '3': 2 });
    });
  });

  describe('refuses corrupt or mismatched checkpoints, changing nothing', () => {
    let path: string;
    let good: Buffer;
    before(async () => {
      const m = mlp(8, 4);
      const opt = new optim.AdamW(m.parameters(), { lr: 0.01 });
      const sched = new optim.LinearLR(opt, { totalIters: 5 });
      await train(m, opt, sched, 2, 2);
      path = join(dir, 'good.safetensors');
      await io.saveCheckpoint(path, { model: m, optimizer: opt, scheduler: sched, rng: rng(1), step: 10 });
      good = readFileSync(path);
      opt.dispose();
      m.dispose();
    });

    /** Load `bytes` (written to a file) into a fresh trained model + optimiser and check the error and that nothing changed. */
    async function refuses(what: string, bytes: Buffer | null, re: RegExp, make: () => { model: nn.Module; opts: Partial<io.LoadCheckpointOptions> } = () => ({ model: mlp(8, 5), opts: {} })): Promise<void> {
      const file = join(dir, 'bad.safetensors');
      writeFileSync(file, bytes ?? good);
      const { model, opts } = make();
      const opt = opts.optimizer ?? new optim.AdamW(model.parameters(), { lr: 0.01 });
      await train(model, opt, null, 1, 3);
      const rngState = () => (opts.rng instanceof Rng ? opts.rng.state() : opts.rng ? Object.entries(opts.rng).map(([k, v]) => [k, v.state()]) : null);
      const before = { params: await paramBits(model), optim: await optimBits(opt), rng: rngState(), sched: (opts.scheduler as optim.LRScheduler | undefined)?.stateDict() };
      const n = tf.memory().numTensors;
      await assert.rejects(io.loadCheckpoint(file, { model, optimizer: opt, ...opts }), (e: Error) => {
        assert.match(e.message, re, `${what}: ${e.message}`);
        assert.match(e.message, /bad\.safetensors/, `${what}: names the file`);
        return true;
      });
      assert.equal(tf.memory().numTensors, n, `${what}: no tensor leaked`);
      assert.deepEqual(await paramBits(model), before.params, `${what}: the model is unchanged`);
      assert.deepEqual(await optimBits(opt), before.optim, `${what}: the optimiser is unchanged`);
      assert.deepEqual(rngState(), before.rng, `${what}: the streams are unchanged`);
      assert.deepEqual((opts.scheduler as optim.LRScheduler | undefined)?.stateDict(), before.sched, `${what}: the scheduler is unchanged`);
      opt.dispose();
      model.dispose();
    }

    it('a truncated file', async () => {
      await refuses('truncated', good.subarray(0, good.length - 100), /need \d+ bytes of data but the file has only \d+ after the header; the file is truncated/);
      await refuses('truncated header', good.subarray(0, 50), /header length of \d+, but the file has only 42 bytes/);
    });

    it('a flipped bit in the data, or an edited header (checksum)', async () => {
      const flipped = Buffer.from(good);
      flipped[flipped.length - 7]! ^= 0x10;
      await refuses('flipped data bit', flipped, /checksum mismatch: the file records crc32:[0-9a-f]{8} but its data and header hash to crc32:[0-9a-f]{8}; the file is corrupt/);
      const text = good.toString('latin1');
      const steps = Buffer.from(text.replace('"step":"10"', '"step":"19"'), 'latin1');
      assert.notDeepEqual(steps, good);
      await refuses('edited step', steps, /checksum mismatch/);
      const renamed = Buffer.from(text.replace('"layers.1.bias"', '"layers.1.bia5"'), 'latin1');
      await refuses('renamed tensor', renamed, /checksum mismatch/);
      const shape = Buffer.from(text.replace('"F32","shape":[8]', '"F32","shape":[9]'), 'latin1');
      assert.notDeepEqual(shape, good);
      await refuses('edited shape', shape, /is F32 \[9\], 36 bytes, but its data_offsets \[\d+, \d+\] span 32 bytes/);
    });

    it('other parameter names, shapes or dtypes than the model', async () => {
      await refuses('names', null, /missing from the checkpoint: 0\.weight, 0\.bias, 2\.weight, 2\.bias\n {2}- in the checkpoint but not in the model: layers\.0\.weight, layers\.0\.bias, layers\.1\.weight, layers\.1\.bias\nTo fix: build the model exactly/, () => ({
        model: new nn.Sequential(new nn.Linear(5, 8, { rng: 0 }), new nn.ReLU(), new nn.Linear(8, 3, { rng: 0 })),
        opts: {},
      }));
      await refuses('shapes', null, /'layers\.0\.weight' is F32 \[5, 8\] in the checkpoint but F32 \[5, 6\] in the model/, () => ({ model: mlp(6, 5), opts: {} }));
      // A dtype mismatch: an int32 leaf where the file has float32.
      const counts = ag.tensor([1, 2], { dtype: 'int32' });
      const saved = ag.tensor([1.5, 2]);
      const file = join(dir, 'dtype.safetensors');
      await io.saveCheckpoint(file, { tensors: { counts: saved }, step: 0 });
      saved.dispose();
      await assert.rejects(io.loadCheckpoint(file, { tensors: { counts } }), /'counts' is F32 \[2\] in the checkpoint but I32 \[2\] in the model/);
      assert.deepEqual(Array.from(await counts.data.data()), [1, 2]);
      counts.dispose();
    });

    it('another optimiser, scheduler or streams than saved (parts already loaded are rolled back)', async () => {
      await refuses('optimiser kind', null, /the optimiser state is of AdamW, the optimiser given is SGD/, () => {
        const model = mlp(8, 5);
        return { model, opts: { optimizer: new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }) } };
      });
      await refuses('optimiser order', null, /optimiser parameter 0 is layers\.1\.bias here but was layers\.0\.weight when saved/, () => {
        const model = mlp(8, 5);
        return { model, opts: { optimizer: new optim.AdamW([...model.parameters()].reverse(), { lr: 0.01 }) } };
      });
      await refuses('rng names', null, /random streams: missing from the checkpoint: data; saved but not given: rng/, () => ({ model: mlp(8, 5), opts: { rng: { data: rng(3) } as never } }));
      // The scheduler fails after the optimiser has loaded: the optimiser is rolled back.
      await refuses('scheduler kind', null, /loading the scheduler state failed, so nothing was loaded: .*the state is of a LinearLR, not a CosineAnnealingLR/, () => {
        const model = mlp(8, 5);
        const optimizer = new optim.AdamW(model.parameters(), { lr: 0.01 });
        return { model, opts: { optimizer, scheduler: new optim.CosineAnnealingLR(optimizer, { tMax: 5 }), rng: rng(8) } };
      });
      await refuses('no loader saved', null, /a loader was given but the checkpoint has no loader state/, () => ({ model: mlp(8, 5), opts: { loader: { state: () => 1, loadState: () => undefined } } }));
    });

    it('strict: false ignores saved parameters the model lacks; a newer format version is refused', async () => {
      const small = new nn.Sequential(new nn.Linear(5, 8, { rng: 0 }));
      const big = new nn.Sequential(new nn.Linear(5, 8, { rng: 1 }), new nn.ReLU(), new nn.Linear(8, 3, { rng: 1 }));
      const file = join(dir, 'big.safetensors');
      await io.saveCheckpoint(file, { model: big, step: 4 });
      await assert.rejects(io.loadCheckpoint(file, { model: small }), /in the checkpoint but not in the model: 2\.weight, 2\.bias\nTo fix: .*pass strict: false/);
      assert.equal((await io.loadCheckpoint(file, { model: small, strict: false })).step, 4);
      assert.deepEqual((await paramBits(small))['0.weight'], (await paramBits(big))['0.weight']);
      const v2 = Buffer.from(readFileSync(file).toString('latin1').replace('"format_version":"1"', '"format_version":"2"'), 'latin1');
      writeFileSync(file, v2);
      await assert.rejects(io.loadCheckpoint(file, { model: big }), /checkpoint format version 2, but this gradlab \(.*\) reads version 1; load it with the gradlab that wrote it/);
      small.dispose();
      big.dispose();
    });

    it('a plain safetensors file or a missing file', async () => {
      const plain = Buffer.from(io.encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }));
      await refuses('plain safetensors', plain, /is not a gradlab checkpoint \(__metadata__\.format is undefined, not "gradlab\.checkpoint"\); read its tensors with gl\.io\.loadSafetensors/);
      await assert.rejects(io.loadCheckpoint(join(dir, 'none.safetensors'), { model: mlp() }), /cannot open the file \(ENOENT\); check the path, or save a checkpoint first/);
    });
  });

  describe('crash safety (real SIGKILLs)', () => {
    it('a save killed between writing and renaming leaves the previous checkpoint intact; the next save removes the stray file', async () => {
      const path = join(dir, 'paused.safetensors');
      let tmp = '';
      const r = await runChild('save-loop.js', [path, '1', '2', 'pause'], {
        kill: (line) => {
          if (line.startsWith('PAUSED ')) tmp = line.slice(7);
          return line.startsWith('PAUSED ');
        },
      });
      assert.equal(r.signal, 'SIGKILL', `the child was killed (${r.stderr})`);
      assert.deepEqual(r.lines.filter((l) => l.startsWith('SAVED')), ['SAVED 1']);
      assert.ok(tmp && existsSync(tmp), 'the killed save left its complete temporary file');
      assert.equal((await io.readCheckpoint(tmp)).step, 2, 'the temporary file is a complete checkpoint of step 2, never renamed');
      const ck = await io.readCheckpoint(path);
      assert.equal(ck.step, 1, 'the target still holds step 1');
      const w = ck.tensors.get('w')!.data as Float32Array;
      assert.ok(w.every((v) => v === 1), 'and its data is step 1 throughout');
      // The next save (this process) removes the dead process's temporary file.
      const t = tf.fill([4], 3);
      await io.saveCheckpoint(path, { tensors: { w: t }, step: 3 });
      t.dispose();
      assert.equal(existsSync(tmp), false, 'the stray temporary file was removed');
      assert.equal((await io.readCheckpoint(path)).step, 3);
    });

    it('a save loop killed at random moments always leaves a loadable, consistent checkpoint', async () => {
      const path = join(dir, 'random.safetensors');
      let r = rng(2024);
      let midSave = 0;
      let last = 0;
      for (let round = 0; round < 5; round++) {
        const first = round * 1000 + 1;
        let saved = 0;
        let timer: NodeJS.Timeout | undefined;
        const res = await runChild('save-loop.js', [path, String(first), '200'], {
          env: { GRADLAB_TEST_SAVE_ELEMENTS: String(2 << 20) },
          kill: (line, killNow) => {
            // After the first save lands, kill at a random moment within the next few saves.
            if (line.startsWith('SAVED ')) saved++;
            if (saved === 1 && !timer) timer = setTimeout(killNow, 5 + r.int(200));
            return false;
          },
        });
        clearTimeout(timer);
        assert.equal(res.signal, 'SIGKILL', `round ${round}: killed (${res.stderr})`);
        const printed = res.lines.filter((l) => l.startsWith('SAVED ')).map((l) => Number(l.slice(6)));
        const ck = await io.readCheckpoint(path); // verifies structure and checksum
        const lastPrinted = printed.at(-1)!;
        assert.ok(ck.step === lastPrinted || ck.step === lastPrinted + 1, `round ${round}: step ${ck.step}, last printed ${lastPrinted}`);
        assert.ok(ck.step > last, 'newer than the previous round');
        last = ck.step;
        const w = ck.tensors.get('w')!.data as Float32Array;
        assert.ok(w[0] === ck.step && w.every((v) => v === ck.step), `round ${round}: the data is all of step ${ck.step}`);
        const stray = readdirSync(dir).filter((f) => f.startsWith('random.safetensors.tmp-'));
        if (stray.length) midSave++;
        r = r.fork();
      }
      console.log(`      ${midSave} of 5 kills landed mid-save (a temporary file left behind)`);
      io.cleanStaleTemps(path);
    });
  });

  it('a training run SIGKILLed mid-run resumes in a new process bit for bit (parameters and loss curve)', async () => {
    const total = '30';
    const every = '5';
    const full = await runChild('train.js', [join(dir, 'full.safetensors'), total, every]);
    assert.equal(full.code, 0, full.stderr);
    const path = join(dir, 'killed.safetensors');
    const killed = await runChild('train.js', [path, total, every], { env: { GRADLAB_TEST_STEP_DELAY_MS: '40' }, kill: (l) => l === 'STEP 17' || l.startsWith('STEP 17 ') });
    assert.equal(killed.signal, 'SIGKILL', `killed (${killed.stderr})`);
    assert.ok(!killed.lines.some((l) => l.startsWith('FINAL')), 'killed before the end');
    const savedSteps = killed.lines.filter((l) => l.startsWith('SAVED ')).map((l) => Number(l.slice(6)));
    const resumed = await runChild('train.js', [path, total, every, 'resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    const from = Number(resumed.lines.find((l) => l.startsWith('RESUMED '))!.slice(8));
    assert.equal(from, savedSteps.at(-1), 'resumed from the last checkpoint saved');
    assert.ok(from >= 15 && from < 30, `resumed from step ${from}`);
    const losses = (c: Child) => new Map(c.lines.filter((l) => l.startsWith('STEP ')).map((l) => l.split(' ').slice(1).map(Number) as [number, number]));
    const lf = losses(full);
    const lk = losses(killed);
    const lr = losses(resumed);
    assert.equal(lf.size, 30);
    for (const [s, v] of lk) assert.equal(v, lf.get(s), `killed run, step ${s}: same loss bits`);
    assert.deepEqual([...lr.keys()], Array.from({ length: 30 - from }, (_, i) => from + 1 + i));
    for (const [s, v] of lr) assert.equal(v, lf.get(s), `resumed run, step ${s}: same loss bits as the uninterrupted run`);
    const final = (c: Child) => JSON.parse(c.lines.find((l) => l.startsWith('FINAL '))!.slice(6)) as Record<string, number[]>;
    assert.deepEqual(final(resumed), final(full), 'final parameters equal bit for bit');
    // The steps after `from` overlap between the killed and the resumed run: the same losses (dropout masks, batches, lrs).
    const overlap = [...lk.keys()].filter((s) => s > from);
    assert.ok(overlap.length > 0, 'the killed run went past its last checkpoint');
  });
});

/** Verify a gradlab checkpoint by hand: its CRC-32 as documented, and the parameters' bits. */
const PY_VERIFY = `
import struct, zlib
import numpy as np
raw = open(INPUT["path"], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n].decode("utf-8"))
meta = header.pop("__metadata__")
data = raw[8 + n:]
tensors = sorted([name, v["dtype"], v["shape"], v["data_offsets"]] for name, v in header.items())
metadata = sorted([k, v] for k, v in meta.items() if k != "checksum")
crc = zlib.crc32(data)
crc = zlib.crc32(json.dumps([tensors, metadata], separators=(",", ":"), ensure_ascii=False).encode("utf-8"), crc)
params = {}
for name in json.loads(meta["params"]):
    b, e = header[name]["data_offsets"]
    params[name] = [int(v) for v in np.frombuffer(data[b:e], dtype="<u4")]
OUTPUT = {"recorded": meta["checksum"], "computed": "crc32:%08x" % crc, "params": params, "step": meta["step"],
          "optim_steps": json.loads(meta["optimizer"])["steps"]}
`;
