/**
 * src/dist faults and the launcher, on real processes: a killed rank, a hung
 * rank and a killed master end every other rank with an error naming the rank
 * within the timeout; bad configurations get clear errors; gradlab-run prefixes
 * output and stops all ranks when one fails; no process is left behind.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { alive, ROOT } from './helpers/child';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dist = require(path.join(ROOT, 'dist', 'src', 'dist')) as typeof import('../src/dist');
const DIST = JSON.stringify(path.join(ROOT, 'dist', 'src', 'dist'));
const TIMEOUT = 3000;

let tmp: string;
function script(name: string, body: string): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, `const dist = require(${DIST});\n(async () => {\n${body}\n})().then(() => process.exit(0), (e) => { console.error('ERROR ' + Date.now() + ' ' + e.message); process.exit(1); });\n`);
  return f;
}


/** Launch, collect each rank's lines, check afterwards that no rank is alive. */
async function run(nproc: number, file: string, graceMs = 10_000) {
  const lines: string[][] = Array.from({ length: nproc }, () => []);
  const res = await dist.launch({ nproc, script: file, graceMs, onOutput: (r, l) => lines[r].push(l), env: { GRADLAB_DIST_TIMEOUT_MS: String(TIMEOUT) } });
  await new Promise((ok) => setTimeout(ok, 100));
  for (const x of res.ranks) assert.ok(!alive(x.pid), `rank ${x.rank} (pid ${x.pid}) was left behind`);
  return { res, lines };
}

/** Ranks other than `culprit` exited 1 with an error naming it, within TIMEOUT of the fault time it printed. */
function checkNamed(out: Awaited<ReturnType<typeof run>>, culprit: number): void {
  const fault = Number(out.lines[culprit].map((l) => /^FAULT (\d+)/.exec(l)?.[1]).find(Boolean));
  assert.ok(fault > 0, `rank ${culprit} did not print its fault time: ${out.lines[culprit].join(' | ')}`);
  for (const x of out.res.ranks) {
    if (x.rank === culprit) continue;
    assert.equal(x.code, 1, `rank ${x.rank} exit code ${x.code}: ${out.lines[x.rank].join(' | ')}`);
    const err = out.lines[x.rank].find((l) => l.startsWith('ERROR'));
    assert.ok(err && err.includes(`rank ${culprit} `), `rank ${x.rank} should name rank ${culprit}: ${err}`);
    const t = Number(/^ERROR (\d+)/.exec(err!)![1]);
    assert.ok(t - fault <= TIMEOUT, `rank ${x.rank} failed ${t - fault} ms after the fault (timeout ${TIMEOUT} ms)`);
  }
}

describe('dist faults and launcher (real processes)', function () {
  this.timeout(60_000);
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-dist-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const collective = `const pg = await dist.initProcessGroup();
  await dist.allReduce(pg, new Float32Array(1000));
  if (pg.rank === CULPRIT) { console.log('FAULT ' + Date.now()); FAULT; }
  for (let i = 0; i < 1000; i++) await dist.allReduce(pg, new Float32Array(1000));
  await pg.destroy();`;

  it('a killed rank ends every other rank with an error naming it, within the timeout', async () => {
    const f = script('killed.js', collective.replace('CULPRIT', '1').replace('FAULT;', "process.kill(process.pid, 'SIGKILL');"));
    const out = await run(3, f);
    assert.equal(out.res.failedRank, 1, out.res.message);
    assert.equal(out.res.ranks[1].signal, 'SIGKILL');
    checkNamed(out, 1);
  });

  it('a hung rank (event loop blocked) ends every other rank naming it; the launcher then stops it', async () => {
    const f = script('hung.js', collective.replace('CULPRIT', '2').replace('FAULT;', 'for (;;);'));
    const out = await run(3, f, 5000);
    checkNamed(out, 2);
    assert.ok(out.res.ranks[2].stopped, 'the hung rank should have been stopped by the launcher');
  });

  it('a rank alive but never calling the collective ends every other rank naming it (per-operation deadline)', async () => {
    const f = script('absent.js', collective.replace('CULPRIT', '1').replace('FAULT;', 'await new Promise((ok) => setTimeout(ok, 30000));'));
    const out = await run(3, f, 4000);
    checkNamed(out, 1);
    assert.ok(out.res.ranks[1].stopped, 'the absent rank should have been stopped by the launcher');
  });

  it('a killed master (rank 0) ends every other rank naming rank 0', async () => {
    const f = script('master.js', collective.replace('CULPRIT', '0').replace('FAULT;', "process.kill(process.pid, 'SIGKILL');"));
    checkNamed(await run(3, f), 0);
  });

  it('tensors of different sizes across ranks: every rank fails naming the ranks and saying what to do', async () => {
    const f = script('sizes.js', `const pg = await dist.initProcessGroup();\n  await dist.allReduce(pg, new Float32Array(10 + pg.rank));`);
    const out = await run(2, f);
    for (const x of out.res.ranks) {
      assert.equal(x.code, 1);
      const err = out.lines[x.rank].find((l) => l.startsWith('ERROR')) ?? '';
      assert.match(err, /rank [01] passed 1[01] elements but rank [01] passed 1[01].*same size/, err);
    }
  });

  it('spawnRanks returns each rank result and rejects naming a failed rank', async () => {
    const res = await dist.spawnRanks({ nproc: 2, fn: async (pg: import('../src/dist').ProcessGroup, gl: typeof import('../src')) => Array.from(await gl.dist.allReduce(pg, Float32Array.of(pg.rank + 1))), timeoutMs: TIMEOUT });
    assert.deepEqual(res.map((x) => x.result), [[3], [3]]);
    await assert.rejects(
      dist.spawnRanks({ nproc: 2, fn: async (pg: { rank: number }) => { if (pg.rank === 1) throw new Error('boom'); }, timeoutMs: TIMEOUT }),
      /rank 1 exited with code 1[\s\S]*boom/,
    );
  });

  it('allReduce on a tfjs tensor returns a new tensor with the sum, in ranks initialised on the backend asked for', async () => {
    const res = await dist.spawnRanks({
      nproc: 2,
      fn: async (pg: import('../src/dist').ProcessGroup, gl: typeof import('../src')) => {
        const tf = gl.tf;
        const x = tf.tensor2d([[1, 2], [3, pg.rank]]);
        const y = await gl.dist.allReduce(pg, x, { op: 'mean' });
        return { shape: y.shape, values: Array.from(y.dataSync()), input: Array.from(x.dataSync()), backend: gl.backendInfo()?.name };
      },
      backend: 'cpu',
      timeoutMs: 20_000,
    });
    for (const x of res) assert.deepEqual(x.result, { shape: [2, 2], values: [1, 2, 3, 0.5], input: [1, 2, 3, x.rank], backend: process.env.GRADLAB_BACKEND ?? 'cpu' });
  });

  it('configuration errors: rank ≥ WORLD_SIZE, missing env, port in use, ranks disagreeing on WORLD_SIZE, ranks missing at the rendezvous', async () => {
    await assert.rejects(dist.initProcessGroup({ rank: 2, worldSize: 2, masterPort: 1 }), /rank 2: RANK must be in \[0, WORLD_SIZE=2\)/);
    const saved = { ...process.env };
    delete process.env.RANK;
    await assert.rejects(dist.initProcessGroup({ worldSize: 2, masterPort: 1 }), /needs RANK, WORLD_SIZE and MASTER_PORT.*gradlab-run/);
    process.env = saved;
    const srv = net.createServer();
    const port = await new Promise<number>((ok) => srv.listen(0, '127.0.0.1', () => ok((srv.address() as net.AddressInfo).port)));
    try {
      await assert.rejects(dist.initProcessGroup({ rank: 0, worldSize: 1, masterPort: port, timeoutMs: TIMEOUT }), /rank 0: cannot start the rendezvous.*choose another MASTER_PORT/);
    } finally {
      srv.close();
    }
    const p2 = await dist.freePort();
    const [a, b] = await Promise.allSettled([
      dist.initProcessGroup({ rank: 0, worldSize: 2, masterPort: p2, timeoutMs: TIMEOUT }),
      dist.initProcessGroup({ rank: 1, worldSize: 3, masterPort: p2, timeoutMs: TIMEOUT }),
    ]);
    await assert.rejects(dist.initProcessGroup({ rank: 0, worldSize: 2, masterPort: await dist.freePort(), timeoutMs: 500 }), /rank 0: the rendezvous did not complete within 500 ms; only ranks \[0\] of WORLD_SIZE=2 registered/);
    await assert.rejects(dist.initProcessGroup({ rank: 1, worldSize: 2, masterPort: await dist.freePort(), timeoutMs: 500 }), /rank 1: the rendezvous at 127.0.0.1:\d+ did not complete within 500 ms; is rank 0 running/);
    for (const r of [a, b]) assert.ok(r.status === 'rejected' && /rank 1 says WORLD_SIZE=3 but rank 0 says 2/.test(String(r.reason)), String(r.status === 'rejected' ? r.reason : 'resolved'));
  });

  it('a single-rank group works in process (all-reduce is the identity) and destroy() closes it', async () => {
    const pg = await dist.initProcessGroup({ rank: 0, worldSize: 1, masterPort: await dist.freePort(), timeoutMs: TIMEOUT });
    assert.deepEqual(Array.from(await dist.allReduce(pg, Float32Array.of(1, 2))), [1, 2]);
    await dist.barrier(pg);
    await pg.destroy();
  });

  it('gradlab-run prefixes output, stops all ranks when one fails and exits non-zero naming it', () => {
    const f = path.join(tmp, 'cli.js');
    fs.writeFileSync(f, `console.log('pid ' + process.pid + ' rank ' + process.env.RANK + ' of ' + process.env.WORLD_SIZE + ' port ' + process.env.MASTER_PORT);\nif (process.env.RANK === '1') setTimeout(() => process.exit(3), 300); else setInterval(() => {}, 1000);\n`);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'dist', 'launch-cli.js'), '--nproc-per-node', '3', f], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, MASTER_PORT: '' } });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /gradlab-run: rank 1 exited with code 3; stopped the other ranks/);
    const pids: number[] = [];
    for (let k = 0; k < 3; k++) {
      const m = new RegExp(`^\\[rank ${k}\\] pid (\\d+) rank ${k} of 3 port (\\d+)$`, 'm').exec(r.stdout);
      assert.ok(m, `no prefixed line for rank ${k}: ${r.stdout}`);
      pids.push(Number(m[1]));
      assert.ok(Number(m[2]) > 0);
    }
    for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} left behind`);
  });
});
