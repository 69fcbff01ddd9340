/**
 * Choosing the backend a test suite runs on, and saying so when that fails.
 *
 * `gl.init({ backend })` lets the environment variable GRADLAB_BACKEND win (so a
 * learner's notebook follows it), which would make a suite titled "on cpu" run on
 * something else without a word. {@link useBackend} checks the active backend after
 * init and throws, naming both, when they differ.
 *
 * webgpu (Dawn) may be missing or crash in native code on some machines: suites
 * that need it run it in a child process ({@link webgpuLoads} tells whether it loads),
 * and skip with the reason, except under CI=true, where it must load.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as path from 'path';
import * as gl from '../../src';
import { tf } from '../../src/backend/tf';
import { ROOT, runGradlab } from './child';

/** The backends a suite can ask for. */
export type TestBackend = 'cpu' | 'wasm' | 'webgpu';

/**
 * `await gl.init({ backend: name })`, then fail loudly unless `tf.getBackend()` is `name`.
 * Use it in every suite's `before` hook.
 */
export async function useBackend(name: TestBackend): Promise<void> {
  await gl.init({ backend: name });
  const active = tf.getBackend();
  const env = process.env.GRADLAB_BACKEND;
  assert.equal(
    active,
    name,
    `this suite runs on '${name}', but the active backend is '${active}'` +
      (env ? ` because GRADLAB_BACKEND=${env} overrides gl.init({ backend }); unset GRADLAB_BACKEND to run the tests` : ''),
  );
}

let webgpu: { ok: true } | { ok: false; reason: string } | undefined;

/**
 * Whether `gl.init({ backend: 'webgpu' })` works here, tried once in a child process
 * (a native crash there does not take the test run down); else why not.
 */
export function webgpuLoads(): { ok: true } | { ok: false; reason: string } {
  if (webgpu) return webgpu;
  const r = runGradlab(`await gl.init({ backend: 'webgpu' }); const t = gl.tf.add(gl.tf.ones([2]), 1); console.log('READ', Array.from(await t.data()).join(','));`);
  if (r.status === 0 && /READ 2,2/.test(r.stdout)) webgpu = { ok: true };
  else webgpu = { ok: false, reason: (r.stderr.split('\n').find((l) => l.startsWith('FAILED')) ?? `exit ${r.status}: ${r.stderr.slice(-500)}`).trim() };
  return webgpu;
}

/**
 * In a test or hook: skip (printing the reason) where webgpu does not load, or fail
 * under CI=true, where CI installs Mesa's software renderer so that it must load.
 */
export function needWebgpu(ctx: Mocha.Context): void {
  const w = webgpuLoads();
  if (w.ok) return;
  if (process.env.CI === 'true') throw new Error(`webgpu must load when CI=true: ${w.reason}`);
  console.log(`      skipped: webgpu (Dawn) does not load here: ${w.reason}`);
  ctx.skip();
}

/** True inside the child mocha process that {@link webgpuSuite} starts. */
export const IN_WEBGPU_CHILD = process.env.GRADLAB_TEST_WEBGPU === '1';

/**
 * The backends a per-backend suite loops over: `inProcess` normally, only webgpu
 * inside the child process of {@link webgpuSuite}.
 */
export function suiteBackends(inProcess: TestBackend[]): TestBackend[] {
  return IN_WEBGPU_CHILD ? ['webgpu'] : inProcess;
}

/**
 * Declare, in a test file whose suites loop over {@link suiteBackends}, one test that
 * runs that same compiled file again in a child mocha process on webgpu , so a native crash in Dawn fails that test
 * and not the whole run. Skips where Dawn cannot load, except under CI=true.
 * `file` is the caller's `__filename` (the compiled .js).
 */
export function webgpuSuite(file: string, title: string, timeoutMs = 600_000): void {
  if (IN_WEBGPU_CHILD) return;
  describe(`${title} on webgpu (a child mocha process: Dawn can crash in native code)`, function () {
    this.timeout(timeoutMs + 30_000);
    it('passes every test of this file that runs on webgpu', async function () {
      needWebgpu(this);
      const started = Date.now();
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [MOCHA, '--no-config', '--reporter', 'spec', '--timeout', String(timeoutMs), file], {
          cwd: ROOT,
          env: { ...process.env, GRADLAB_BACKEND: undefined, GRADLAB_TEST_WEBGPU: '1' },
        });
        let out = '';
        child.stdout.on('data', (d) => (out += String(d)));
        child.stderr.on('data', (d) => (out += String(d)));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
      const passing = /(\d+) passing/.exec(r.out)?.[1] ?? '0';
      const pending = /(\d+) pending/.exec(r.out)?.[1] ?? '0';
      console.log(`      webgpu: ${passing} passing, ${pending} pending, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      assert.equal(r.code, 0, `the webgpu run of ${path.basename(file)} failed (exit ${r.code}):\n${r.out.slice(-6000)}`);
      assert.ok(Number(passing) > 0, `no test ran on webgpu:\n${r.out.slice(-2000)}`);
    });
  });
}

/** mocha's CLI, to start the child run. */
const MOCHA = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
