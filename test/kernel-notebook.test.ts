/**
 * The gradlab kernel inside Debian's Jupyter Notebook 6, driven by headless
 * Chromium: open a chapter notebook, Run All, wait for the charts, save a
 * screenshot (out/screenshots/01-chain-rule.png) and fail on any kernel error;
 * then a cell that throws shows its own line (`Cell In[n], line 3`) and a caret.
 *
 * Classic Notebook does not render Vega-Lite; it shows each chart's static
 * `image/svg+xml`, which is what this test looks for.
 */
import { strict as assert } from 'assert';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { jupyterPathWithKernel } from '../kernel/spec';
import { ROOT } from './helpers/child';

const PYTHON = '/usr/bin/python3';
const CHROMIUM = '/usr/bin/chromium';
const CHAPTER = path.join(ROOT, 'notebooks', '01-backprop');
const NOTEBOOK = '01-chain-rule.ipynb';
const SCREENSHOT = path.join(ROOT, 'out', 'screenshots', '01-chain-rule.png');
/** Chromium without a sandbox (containers, root), a GPU, or any network use of its own. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run'];

/** Why this machine cannot run the test, or undefined when it can. */
function missing(): string | undefined {
  if (spawnSync(PYTHON, ['-c', 'import notebook'], { stdio: 'ignore' }).status !== 0) {
    return `Jupyter Notebook is not installed for ${PYTHON} (apt install jupyter-notebook)`;
  }
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt install chromium)`;
  try {
    require.resolve('playwright-core');
  } catch {
    return 'the npm package playwright-core is missing (npm install)';
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => ok(port));
    });
  });
}

function get(url: string): Promise<number> {
  return new Promise((ok) => {
    http.get(url, (res) => {
      res.resume();
      ok(res.statusCode ?? 0);
    }).on('error', () => ok(0));
  });
}

describe('a chapter notebook in Jupyter Notebook, in headless Chromium', function () {
  this.timeout(300_000);
  // Under out/ (ignored), so the kernel resolves `gradlab` from the repository's node_modules.
  let tmp = '';
  let server: ChildProcess | undefined;
  let serverLog = '';
  let browser: Browser | undefined;

  after(async () => {
    await browser?.close().catch(() => undefined);
    if (server && server.exitCode === null) {
      server.kill('SIGTERM'); // Notebook shuts its kernels down on SIGTERM
      await new Promise((ok) => { server!.once('exit', ok); setTimeout(ok, 10_000); });
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    if (tmp) {
      const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
      const left = ps.split('\n').filter((l) => l.includes(tmp));
      fs.rmSync(tmp, { recursive: true, force: true });
      assert.deepEqual(left, [], 'no kernel or server process is left behind');
    }
  });

  it('runs 01-chain-rule with Run All: charts visible, no kernel error, screenshot saved', async function () {
    const why = missing();
    if (why) {
      if (process.env.CI === 'true') assert.fail(why);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    fs.mkdirSync(path.join(ROOT, 'out'), { recursive: true });
    tmp = fs.mkdtempSync(path.join(ROOT, 'out', '.notebook-test-'));
    const nbDir = path.join(tmp, '01-backprop');
    fs.cpSync(CHAPTER, nbDir, { recursive: true });
    const jupyterPath = jupyterPathWithKernel(path.join(tmp, 'jupyter'));

    const port = await freePort();
    const token = randomBytes(24).toString('hex');
    server = spawn(PYTHON, ['-m', 'notebook', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--allow-root',
      `--NotebookApp.token=${token}`, `--notebook-dir=${nbDir}`], {
      env: { ...process.env, JUPYTER_PATH: jupyterPath, JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime'),
        JUPYTER_CONFIG_DIR: path.join(tmp, 'config'), JUPYTER_DATA_DIR: path.join(tmp, 'data'), JUPYTER_PLATFORM_DIRS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => { serverLog = (serverLog + d.toString()).slice(-20_000); };
    server.stdout!.on('data', keep);
    server.stderr!.on('data', keep);
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && (await get(`${base}/api/status?token=${token}`)) !== 200; i++) {
      assert.equal(server.exitCode, null, `the Notebook server exited:\n${serverLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { chromium } = require('playwright-core') as typeof import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    // The network is closed: refuse anything that is not this server.
    await page.route('**/*', (route) => (route.request().url().startsWith(base) ? route.continue() : route.abort()));
    await page.goto(`${base}/notebooks/${NOTEBOOK}?token=${token}`);
    await page.waitForFunction(() => {
      const J = (window as unknown as { Jupyter?: { notebook?: { kernel?: { is_connected(): boolean; info_reply?: { implementation?: string } } } } }).Jupyter;
      // info_reply starts as {} and is filled in by the kernel_info_reply.
      return !!J?.notebook?.kernel?.is_connected() && !!J.notebook.kernel.info_reply?.implementation;
    }, undefined, { timeout: 60_000 });
    const banner = await page.evaluate(() =>
      (window as unknown as { Jupyter: { notebook: { kernel: { info_reply: { implementation: string } } } } }).Jupyter.notebook.kernel.info_reply.implementation);
    assert.equal(banner, 'gradlab');

    // Cell > Run All, through the menu as a reader would.
    await page.click('#celllink');
    await page.click('#run_all_cells');
    await waitForRun(page);

    const report = await page.evaluate(() => ({
      errors: Array.from(document.querySelectorAll('.output_error')).map((e) => (e as HTMLElement).innerText.slice(0, 500)),
      svgs: document.querySelectorAll('.output_svg svg').length,
      prompts: Array.from(document.querySelectorAll('.code_cell .input_prompt')).map((e) => (e as HTMLElement).innerText.trim()),
      dialogs: Array.from(document.querySelectorAll('.modal-dialog')).filter((d) => (d as HTMLElement).offsetParent !== null)
        .map((d) => (d as HTMLElement).innerText.slice(0, 300)),
      kernelNotice: (document.querySelector('#notification_kernel') as HTMLElement | null)?.innerText ?? '',
      body: document.body.innerText,
    }));
    assert.deepEqual(report.errors, [], 'error outputs on the page');
    assert.deepEqual(report.dialogs, [], 'dialogs on the page (dead kernel?)');
    assert.doesNotMatch(report.kernelNotice, /error|dead|restarting/i);
    assert.doesNotMatch(report.body, /Kernel error|Dead kernel|The kernel has died/);
    assert.ok(report.svgs >= 3, `three charts as SVG (found ${report.svgs})`);
    assert.ok(report.prompts.every((p) => /^In\s*\[\d+\]:$/.test(p)), `every cell ran: ${report.prompts.join(' ')}`);

    // The first chart, in view, with the cells around it.
    await page.evaluate(() => document.querySelector('.output_svg')!.scrollIntoView({ block: 'center' }));
    await page.waitForTimeout(300);
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    const box = await page.locator('.output_svg svg').first().boundingBox();
    assert.ok(box && box.y >= 0 && box.y + box.height / 2 <= 1400 && box.width > 200, `the chart is in the screenshot: ${JSON.stringify(box)}`);
    assert.ok(fs.statSync(SCREENSHOT).size > 20_000, 'the screenshot has content');

    // A runtime error shows the cell's own line, with the line and a caret (kernel/cellmap.ts).
    await page.evaluate(() => {
      const nb = (window as unknown as { Jupyter: { notebook: { insert_cell_at_bottom(t: string): { set_text(s: string): void; execute(): void } } } }).Jupyter.notebook;
      const cell = nb.insert_cell_at_bottom('code');
      cell.set_text('// fails on purpose\nconst missing: any = undefined;\nmissing.size;');
      cell.execute();
    });
    await page.waitForSelector('.output_error', { timeout: 30_000 });
    const shown = await page.evaluate(() => {
      const cells = Array.from(document.querySelectorAll('.code_cell'));
      const last = cells[cells.length - 1] as HTMLElement;
      return { prompt: (last.querySelector('.input_prompt') as HTMLElement).innerText, error: (last.querySelector('.output_error') as HTMLElement | null)?.innerText ?? '' };
    });
    const n = /\[(\d+)\]/.exec(shown.prompt)?.[1];
    assert.ok(n, `the error cell ran: ${shown.prompt}`);
    assert.match(shown.error, new RegExp(`at Cell In\\[${n}\\], line 3, col 9\\n\\s*3 \\| missing\\.size;\\n\\s*\\| {9}\\^{4}`), shown.error);
    assert.doesNotMatch(shown.error, /evalmachine|gradlab-cell-|tslab/);
  });
});

/** Wait until every code cell has run (a number in its prompt) and the kernel is idle. */
async function waitForRun(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const prompts = Array.from(document.querySelectorAll('.code_cell .input_prompt')).map((e) => (e as HTMLElement).innerText);
    const idle = document.querySelector('#kernel_indicator_icon')?.classList.contains('kernel_idle_icon');
    const dead = document.querySelector('#kernel_indicator_icon')?.classList.contains('kernel_dead_icon');
    return dead || (idle && prompts.length > 0 && prompts.every((p) => /\[\d+\]/.test(p)))
      || document.querySelectorAll('.output_error').length > 0;
  }, undefined, { timeout: 240_000, polling: 500 });
}
