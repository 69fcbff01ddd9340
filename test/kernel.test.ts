/**
 * The gradlab kernel's protocol behaviour, through real kernel processes and
 * gradlab's ZeroMQ client: results, errors, aborts, status, history,
 * completion, output control, interrupts, lifecycle and message signing.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import { randomBytes, randomUUID } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as zmq from 'zeromq';
import { KernelClient, type KernelMessage } from '../kernel/client';
import { kernelArgv } from '../kernel/spec';
import { encode, newHeader, readConnectionFile, Signer } from '../kernel/wire';
import { alive, ROOT } from './helpers/child';

const RUNTIME = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-kernel-test-'));
const start = () => KernelClient.start({ cwd: ROOT, runtimeDir: RUNTIME, log: () => undefined });
const delay = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
const types = (ms: KernelMessage[]) => ms.map((m) => m.msg_type);
const plain = (m: KernelMessage | undefined) => (m?.content.data as Record<string, unknown> | undefined)?.['text/plain'];


async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  for (let t = 0; t < ms && alive(pid); t += 100) await delay(100);
  return !alive(pid);
}

describe('the gradlab kernel', function () {
  this.timeout(60_000);
  let k: KernelClient;
  before(async () => {
    k = await start();
    // The first cell waits for the type checker to be built; do it here, once.
    assert.equal((await k.execute('const earlier = 41;')).status, 'ok');
  });
  after(async () => k?.shutdown());

  describe('kernel_info and status', () => {
    it('replies ok with protocol 5.3, implementation gradlab, the real TypeScript version and full language_info', async () => {
      const info = await k.kernelInfo();
      const ts = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', '@tslab', 'typescript-for-tslab', 'package.json'), 'utf8')).version;
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
      assert.equal(info.status, 'ok');
      assert.equal(info.protocol_version, '5.3');
      assert.equal(info.implementation, 'gradlab');
      assert.equal(info.implementation_version, pkg);
      assert.deepEqual(
        { ...(info.language_info as object), codemirror_mode: undefined },
        { name: 'typescript', version: ts, mimetype: 'text/typescript', file_extension: '.ts', pygments_lexer: 'typescript', codemirror_mode: undefined },
      );
      assert.ok((info.language_info as { codemirror_mode: unknown }).codemirror_mode);
      assert.match(String(info.banner), new RegExp(`TypeScript ${ts.replace(/\./g, '\\.')}`));
      assert.ok(Array.isArray(info.help_links) && info.help_links.length > 0);
    });

    it('publishes busy then idle around shell and control requests, all signed', async () => {
      const tap = await tapIopub(k);
      try {
        await k.request('kernel_info_request', {}, { channel: 'control' });
        await k.execute('1');
        await delay(100);
      } finally {
        tap.stop();
      }
      const seen = tap.stop();
      assert.deepEqual(seen.filter((m) => m.msg_type === 'status').map((m) => m.content.execution_state), ['busy', 'idle', 'busy', 'idle']);
      assert.deepEqual(seen.map((m) => m.msg_type), ['status', 'status', 'status', 'execute_input', 'execute_result', 'status']);
      assert.ok(tap.allSigned(), 'every IOPub message carries a valid signature');
    });

    it("publishes 'starting' to a client that subscribed before its first request", async () => {
      const dir = fs.mkdtempSync(path.join(RUNTIME, 'start-'));
      const ports = await freePorts(5);
      const key = randomBytes(16).toString('hex');
      const file = path.join(dir, 'kernel.json');
      const [shell_port, iopub_port, stdin_port, control_port, hb_port] = ports;
      fs.writeFileSync(file, JSON.stringify({ transport: 'tcp', ip: '127.0.0.1', shell_port, iopub_port, stdin_port,
        control_port, hb_port, key, signature_scheme: 'hmac-sha256' }));
      const sub = new zmq.Subscriber({ linger: 0 });
      sub.connect(`tcp://127.0.0.1:${iopub_port}`);
      sub.subscribe();
      const argv = kernelArgv(file);
      const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: 'ignore' });
      try {
        sub.receiveTimeout = 15_000;
        const frames = await sub.receive();
        const i = frames.findIndex((f) => f.toString() === '<IDS|MSG>');
        assert.equal(JSON.parse(frames[i + 2]!.toString()).msg_type, 'status');
        assert.deepEqual(JSON.parse(frames[i + 5]!.toString()), { execution_state: 'starting' });
      } finally {
        sub.close();
        child.kill('SIGKILL');
      }
    });
  });

  describe('results', () => {
    it('sends execute_input, then the last expression as an execute_result with the execution count and text/plain', async () => {
      const seen: KernelMessage[] = [];
      const r = await k.execute('earlier + 1', { onOutput: (m) => seen.push(m) });
      assert.equal(r.status, 'ok');
      assert.deepEqual(types(r.outputs), ['execute_result']);
      assert.equal(r.outputs[0]!.content.execution_count, r.executionCount);
      assert.equal(plain(r.outputs[0]), '42');
      const again = await k.execute("'text'");
      assert.equal(again.executionCount, r.executionCount! + 1);
      assert.equal(plain(again.outputs[0]), "'text'");
    });

    it('sends no result for undefined, and shows null', async () => {
      assert.deepEqual(types((await k.execute('undefined')).outputs), []);
      assert.deepEqual(types((await k.execute('const nothing = 1;')).outputs), []);
      assert.deepEqual(types((await k.execute('console.log("x")')).outputs), ['stream']);
      assert.equal(plain((await k.execute('null')).outputs[0]), 'null');
    });

    it('runs a silent cell without execute_input, result or a new execution count, and evaluates user_expressions', async () => {
      const before = (await k.execute('1')).executionCount!;
      const seen: string[] = [];
      const silent = await k.execute('const s1 = 5; s1', { silent: true, onOutput: (m) => seen.push(m.msg_type) });
      assert.deepEqual([silent.status, silent.executionCount, seen], ['ok', before, []]);
      const r = await k.execute('const s2 = 2;', { userExpressions: { double: 's2 * 2', bad: 'nope' } });
      const ue = r.reply.user_expressions as Record<string, Record<string, unknown>>;
      assert.deepEqual(ue.double, { status: 'ok', data: { 'text/plain': '4' }, metadata: {} });
      assert.equal(ue.bad!.status, 'error');
      assert.equal(r.executionCount, before + 1);
    });

    it("renders an object with Symbol.for('Jupyter.display') (sync or async) as its bundle", async () => {
      const sync = await k.execute("({ [Symbol.for('Jupyter.display')]: () => ({ 'text/html': '<b>s</b>', 'text/plain': 's' }) })");
      assert.deepEqual(sync.outputs[0]!.content.data, { 'text/html': '<b>s</b>', 'text/plain': 's' });
      const async = await k.execute("({ [Symbol.for('Jupyter.display')]: async () => ({ 'text/markdown': '**a**' }) })");
      const data = async.outputs[0]!.content.data as Record<string, unknown>;
      assert.equal(data['text/markdown'], '**a**');
      assert.equal(typeof data['text/plain'], 'string', 'text/plain is always present');
    });

    it('renders a tensor as text/html and text/plain with shape, dtype, backend and values', async () => {
      const r = await k.execute("import * as gl from 'gradlab';\nawait gl.init({ backend: 'cpu' });\ngl.tf.tensor([[1, 2.5], [3, 4]])");
      assert.equal(r.status, 'ok', JSON.stringify(r.reply));
      const data = r.outputs[0]!.content.data as Record<string, string>;
      assert.equal(data['text/plain'], 'Tensor [2, 2] float32 on cpu, 4 values\n[[  1, 2.5],\n [  3,   4]]');
      assert.match(data['text/html']!, /^<div class="gradlab-tensor">.*Tensor \[2, 2\] float32 on cpu, 4 values.*<pre[^>]*>\[\[  1, 2\.5\],\n \[  3,   4\]\]<\/pre><\/div>$/s);
      const big = await k.execute('gl.tf.range(0, 5000).reshape([50, 100])');
      assert.match(plain(big.outputs[0]) as string, /^Tensor \[50, 100\] float32 on cpu, 5000 values\n\[\[   0,    1,    2, \.\.\.,   97,   98,   99\],\n \[ 100,/);
      assert.match(plain(big.outputs[0]) as string, /\.\.\.,\n \[4700,/);
    });

    it('renders a gradlab figure as its chart bundle (Vega-Lite, SVG, text)', async () => {
      const r = await k.execute("import * as gl from 'gradlab';\ngl.plot.line({ series: { y: { x: [0, 1, 2], y: [1, 3, 2] } }, title: 't' })");
      assert.equal(r.status, 'ok', JSON.stringify(r.reply));
      const data = r.outputs[0]!.content.data as Record<string, unknown>;
      assert.ok('application/vnd.vegalite.v5+json' in data && 'image/svg+xml' in data && 'text/plain' in data, Object.keys(data).join());
    });
  });

  describe('errors', () => {
    it('reports a runtime exception as an error message and an error reply with ename, evalue and traceback', async () => {
      const r = await k.execute('const f = (): number => { throw new RangeError("too far"); };\nf();');
      assert.equal(r.status, 'error');
      assert.deepEqual(types(r.outputs), ['error']);
      const e = r.outputs[0]!.content;
      assert.equal(e.ename, 'RangeError');
      assert.equal(e.evalue, 'too far');
      assert.match((e.traceback as string[])[0]!, /RangeError.*: too far/);
      assert.ok((e.traceback as string[]).some((l) => /^\s+at /.test(l)), 'the trace has stack frames');
      assert.ok(!(e.traceback as string[]).some((l) => /node_modules[\\/]tslab|node:internal/.test(l)), 'kernel frames are hidden');
      assert.deepEqual([r.reply.ename, r.reply.evalue, r.reply.traceback], [e.ename, e.evalue, e.traceback]);
      assert.equal(typeof r.reply.execution_count, 'number');
    });

    it('reports a type error as TypeScriptError with the line and column in the cell', async () => {
      const r = await k.execute("const ok = 1;\nconst bad: number = 'one';");
      assert.equal(r.status, 'error');
      assert.equal(r.reply.ename, 'TypeScriptError');
      assert.equal(r.reply.evalue, "2:7 - Type 'string' is not assignable to type 'number'. (TS2322)");
      const tb = (r.reply.traceback as string[]).map((l) => l.replace(/\u001b\[[0-9;]*m/g, ''));
      assert.deepEqual(tb.slice(1), ["2 | const bad: number = 'one';", '  |       ^^^']);
    });

    it('aborts execute requests queued behind a failed cell, and runs one sent after the error was reported', async () => {
      const [bad, queued1, queued2] = await Promise.all([
        k.execute('await new Promise((r) => setTimeout(r, 200)); throw new Error("first fails");'),
        k.execute('console.log("must not run")'),
        k.execute('1 + 1'),
      ]);
      assert.deepEqual([bad.status, queued1.status, queued2.status], ['error', 'aborted', 'aborted']);
      assert.deepEqual(queued1.outputs, []);
      const after = await k.execute('2 + 2');
      assert.equal(after.status, 'ok');
      assert.equal(plain(after.outputs[0]), '4');
    });

    it('aborts every one of 300 requests queued behind a cell that fails at once, however late they arrive', async () => {
      const all = await Promise.all([
        k.execute('throw new Error("fails at once")'),
        ...Array.from({ length: 300 }, (_, i) => k.execute(`console.log("must not run ${i}")`)),
      ]);
      assert.equal(all[0]!.status, 'error');
      const ran = all.slice(1).filter((r) => r.status !== 'aborted');
      assert.equal(ran.length, 0, `${ran.length} queued requests ran`);
      const after = await k.execute('5 + 5');
      assert.equal(plain(after.outputs[0]), '10', 'a request sent after the error was reported runs');
    });

    it('aborts requests created before the error even when they arrive after it, judged on the client\'s clock corrected for its offset', async () => {
      // A client whose clock is 10 minutes behind: its requests after the error must still run.
      const info = readConnectionFile(k.connectionFile);
      const signer = new Signer(info.key, info.signature_scheme);
      const dealer = new zmq.Dealer({ linger: 0 });
      dealer.connect(`tcp://127.0.0.1:${info.shell_port}`);
      const session = randomUUID();
      const behind = (type: string) => ({ ...newHeader(type, session), date: new Date(Date.now() - 600_000).toISOString() });
      const replies = new Map<string, string>();
      const reading = (async () => {
        for await (const frames of dealer) {
          const i = frames.findIndex((f) => f.toString() === '<IDS|MSG>');
          const parent = JSON.parse(frames[i + 3]!.toString());
          replies.set(parent.msg_id, JSON.parse(frames[i + 5]!.toString()).status);
        }
      })().catch(() => undefined);
      const request = async (code: string) => {
        const header = behind('execute_request');
        await dealer.send(encode(signer, { header, content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true } }));
        for (let t = 0; t < 200 && !replies.has(header.msg_id); t++) await delay(50);
        return replies.get(header.msg_id);
      };
      const send = (header: Record<string, unknown>, code: string) => dealer.send(encode(signer,
        { header, content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true } }));
      try {
        assert.equal(await request('1'), 'ok');
        // Created before the error, delivered after it was reported (a slow network): aborted.
        const early = Array.from({ length: 5 }, () => behind('execute_request'));
        assert.equal(await request('throw new Error("x")'), 'error');
        for (const h of early) await send(h, 'console.log("must not run")');
        for (let t = 0; t < 200 && !early.every((h) => replies.has(h.msg_id)); t++) await delay(50);
        assert.deepEqual(early.map((h) => replies.get(h.msg_id)), Array(5).fill('aborted'));
        assert.equal(await request('2'), 'ok', 'created after the error reply arrived: runs, although its date is 10 minutes old');
      } finally {
        dealer.close();
        await reading;
      }
    });

    it('does not abort queued requests when stop_on_error is false', async () => {
      const [bad, next] = await Promise.all([
        k.execute('throw new Error("x")', { stopOnError: false }),
        k.execute('3 + 3'),
      ]);
      assert.deepEqual([bad.status, next.status], ['error', 'ok']);
    });
  });

  describe('history, completion and friends', () => {
    it('answers history tail, range and search (glob, unique, n) from this session', async () => {
      await k.execute('const h1 = 101;');
      await k.execute('h1 + 1');
      await k.execute('h1 + 1');
      const tail = await k.request('history_request', { hist_access_type: 'tail', n: 2, output: true, raw: true });
      const items = tail.reply.history as [number, number, [string, string | null]][];
      assert.equal(items.length, 2);
      assert.deepEqual(items.map((h) => h[2]), [['h1 + 1', '102'], ['h1 + 1', '102']]);
      const [session, line] = items[0]!;
      const range = await k.request('history_request', { hist_access_type: 'range', session, start: line - 1, stop: line, output: false, raw: true });
      assert.deepEqual(range.reply.history, [[session, line - 1, 'const h1 = 101;']]);
      const search = (extra: object) => k.request('history_request', { hist_access_type: 'search', pattern: 'h1 ?*', output: false, raw: true, ...extra });
      assert.equal(((await search({})).reply.history as unknown[]).length, 2);
      assert.deepEqual(((await search({ unique: true })).reply.history as unknown[][]).map((h) => h[2]), ['h1 + 1']);
      assert.equal(((await search({ n: 1 })).reply.history as unknown[]).length, 1);
    });

    it('answers comm_info_request with a comm_info_reply', async () => {
      const r = await k.request('comm_info_request', { target_name: 'jupyter.widget' });
      assert.deepEqual(r.reply, { status: 'ok', comms: {} });
    });

    it("says 'complete', 'incomplete' with an indent, or 'invalid' for code that cannot parse", async () => {
      const ask = async (code: string) => (await k.request('is_complete_request', { code })).reply;
      assert.deepEqual(await ask('const x = 1;'), { status: 'complete' });
      assert.deepEqual(await ask('function f() {'), { status: 'incomplete', indent: '  ' });
      assert.deepEqual(await ask('1 + )'), { status: 'invalid' });
    });

    it('completes members and names defined in earlier cells, and inspects types', async () => {
      const c = await k.request('complete_request', { code: 'Math.ma', cursor_pos: 7 });
      assert.deepEqual([c.reply.matches, c.reply.cursor_start, c.reply.cursor_end], [['max'], 5, 7]);
      const e = await k.request('complete_request', { code: 'earli', cursor_pos: 5 });
      assert.ok((e.reply.matches as string[]).includes('earlier'));
      const i = await k.request('inspect_request', { code: 'earlier', cursor_pos: 3, detail_level: 0 });
      assert.equal(i.reply.found, true);
      assert.match((i.reply.data as Record<string, string>)['text/plain']!, /const earlier: 41/);
    });

    it('pages the type and docs of `name?` as IPython does', async () => {
      const r = await k.execute('Math.max?');
      assert.equal(r.status, 'ok');
      const [page] = r.reply.payload as { source: string; data: Record<string, string> }[];
      assert.equal(page!.source, 'page');
      assert.match(page!.data['text/plain']!, /Math\.max\(\.\.\.values: number\[\]\): number/);
    });
  });

  describe("completion and inspection of gradlab's API", () => {
    before(async () => {
      assert.equal((await k.execute("import * as gl from 'gradlab';")).status, 'ok');
    });

    for (const ns of ['nn', 'ag'] as const) {
      it(`completing gl.${ns}. lists every member the library exports`, async () => {
        const code = `gl.${ns}.`;
        const c = await k.request('complete_request', { code, cursor_pos: code.length });
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const exported = Object.keys((require('../src') as Record<string, object>)[ns]!).filter((n) => n !== '__esModule');
        assert.ok(exported.length > 10, `gl.${ns} exports ${exported.length} names`);
        const matches = c.reply.matches as string[];
        assert.deepEqual(exported.filter((n) => !matches.includes(n)), [], `members of gl.${ns} missing from the completion`);
        assert.deepEqual([c.reply.cursor_start, c.reply.cursor_end], [code.length, code.length]);
      });
    }

    it('gl.nn.Linear? pages the constructor signature and the TSDoc as Markdown (and plain text)', async () => {
      const r = await k.execute('gl.nn.Linear?');
      assert.equal(r.status, 'ok', JSON.stringify(r.reply));
      const [page] = r.reply.payload as { source: string; data: Record<string, string> }[];
      const md = page!.data['text/markdown']!;
      assert.match(md, /^```ts\nnew Linear\(inFeatures: number, outFeatures: number, .*\): gl\.nn\.Linear\n```\n/, md);
      assert.match(md, /`y = x W \+ b` over the last axis/, 'the math line');
      assert.match(md, /Init \(PyTorch's default\): W ~ U\(−1\/√in, 1\/√in\)/, 'the defaults');
      assert.match(md, /\*\*Example\*\*\n\n```ts\nconst layer = new nn\.Linear\(784, 256[^`]*\n```\n\nReference: `torch\.nn\.Linear/, 'the example is code; the reference after it is prose');
      assert.match(page!.data['text/plain']!, /class Linear/);
      const i = await k.request('inspect_request', { code: 'gl.sized', cursor_pos: 8, detail_level: 0 });
      const smd = (i.reply.data as Record<string, string>)['text/markdown']!;
      assert.match(smd, /\*\*Parameters\*\*\n\n- `knobs`: name → `\{ small, medium, large \}`/);
      assert.match(smd, /\*\*Throws\*\*\n\nSizeError/);
      assert.doesNotMatch(smd, /\{@link/, '{@link x} is rendered as code');
    });
  });

  describe('output', () => {
    it('streams stdout and stderr, also output written after the cell finished', async () => {
      const tap = await tapIopub(k);
      let r;
      try {
        r = await k.execute('console.log("out"); console.error("err"); const timer = setTimeout(() => console.log("late"), 300);');
        await delay(800);
      } finally {
        tap.stop();
      }
      assert.deepEqual(r.outputs.map((m) => [m.content.name, m.content.text]), [['stdout', 'out\n'], ['stderr', 'err\n']]);
      const late = tap.stop().find((m) => m.msg_type === 'stream' && m.content.text === 'late\n');
      assert.ok(late, 'the late line arrived');
      assert.equal(late!.parent_header.msg_id, r.outputs[0]!.parent_header.msg_id, 'with the finished cell as its parent');
    });

    it('lets notebook code clear the output (with wait) and update a display by its display_id', async () => {
      const r = await k.execute(
        "import * as gl from 'gradlab';\nconst d = gl.newDisplay(undefined, 'progress-1');\nawait d.show('step 1');\n" +
          "gl.clearOutput({ wait: true });\nawait gl.updateDisplay('progress-1', 'done');",
      );
      assert.equal(r.status, 'ok', JSON.stringify(r.reply));
      assert.deepEqual(types(r.outputs), ['display_data', 'clear_output', 'update_display_data']);
      assert.deepEqual(r.outputs[1]!.content, { wait: true });
      assert.deepEqual(r.outputs[2]!.content.transient, { display_id: 'progress-1' });
      assert.equal(plain(r.outputs[2]), 'done');
    });

    it('answers 100 back-to-back cells without losing a reply or an output', async () => {
      for (let i = 0; i < 100; i++) {
        const r = await k.execute(`console.log(${i}); ${i}`, { timeoutMs: 10_000 });
        assert.deepEqual(r.outputs.map((m) => m.content.text ?? plain(m)), [`${i}\n`, `${i}`]);
      }
    });

    it('answers the heartbeat while a cell blocks the main thread', async () => {
      const busy = k.execute('const until = Date.now() + 1500; while (Date.now() < until) {}');
      await delay(700);
      assert.equal(await k.heartbeat(500), true);
      assert.equal((await busy).status, 'ok');
    });
  });

  describe('interrupts', () => {
    it('stops while (true) {} on SIGINT and keeps the variables of earlier cells', async () => {
      assert.equal((await k.execute('const kept = 7;')).status, 'ok');
      const loop = k.execute('while (true) {}');
      await delay(800);
      k.interrupt();
      const r = await loop;
      assert.equal(r.reply.ename, 'Interrupted', JSON.stringify(r.reply));
      const next = await k.execute('kept * 6');
      assert.equal(plain(next.outputs[0]), '42', JSON.stringify(next.reply));
    });

    it('stops a pending await on interrupt_request (control channel)', async () => {
      const pending = k.execute('await new Promise(() => {})');
      await delay(500);
      const ir = await k.request('interrupt_request', {}, { channel: 'control' });
      assert.deepEqual(ir.reply, { status: 'ok' });
      const r = await pending;
      assert.equal(r.reply.ename, 'Interrupted', JSON.stringify(r.reply));
      assert.equal(plain((await k.execute('kept')).outputs[0]), '7');
    });

    it('answers interrupt_request on the shell channel at once, not behind the running cell, and stops it', async () => {
      const loop = k.execute('while (true) {}');
      await delay(800);
      const t0 = Date.now();
      const ir = await k.request('interrupt_request', {}, { channel: 'shell', timeoutMs: 5000 });
      assert.deepEqual(ir.reply, { status: 'ok' });
      const r = await loop;
      assert.equal(r.reply.ename, 'Interrupted', JSON.stringify(r.reply));
      assert.ok(Date.now() - t0 < 5000, `the interrupt took ${Date.now() - t0} ms`);
      assert.equal(plain((await k.execute('kept')).outputs[0]), '7', 'state kept');
    });

    it('stops while (true) {} on interrupt_request too', async () => {
      const loop = k.execute('while (true) {}');
      await delay(800);
      await k.request('interrupt_request', {}, { channel: 'control' });
      const r = await loop;
      assert.equal(r.reply.ename, 'Interrupted', JSON.stringify(r.reply));
    });

    // kernel/sigint.ts: after the first cell, SIGINT goes to two parked threads instead of a listener.
    const SIGINT_MODE = "(globalThis as any)[Symbol.for('gradlab.kernel.sigint')]()";

    it('hands SIGINT to the relay after the first cell; SIGINTs between cells, five in quick succession, leave it running', async () => {
      assert.equal(plain((await k.execute(SIGINT_MODE)).outputs[0]), "'armed'", 'the tests above ran with the relay');
      for (let i = 0; i < 5; i++) {
        k.interrupt();
        await delay(i % 2 ? 2 : 60);
      }
      await delay(300);
      const r = await k.execute('kept * 2');
      assert.equal(plain(r.outputs[0]), '14', JSON.stringify(r.reply));
      assert.equal(plain((await k.execute(SIGINT_MODE)).outputs[0]), "'armed'");
    });

    it("keeps the relay when a cell adds a SIGINT listener: the listener hears SIGINTs between cells, and loops still stop", async () => {
      const add = await k.execute("process.on('SIGINT', () => { (globalThis as any).userSigints = ((globalThis as any).userSigints ?? 0) + 1; });");
      assert.equal(add.status, 'ok', JSON.stringify(add.reply));
      for (let round = 0; round < 2; round++) {
        k.interrupt();
        await delay(300);
        const loop = k.execute('while (true) {}');
        await delay(600);
        k.interrupt();
        const r = await loop;
        assert.equal(r.reply.ename, 'Interrupted', JSON.stringify(r.reply));
      }
      assert.equal(plain((await k.execute('(globalThis as any).userSigints')).outputs[0]), '2', "the cell's listener heard the two SIGINTs between cells, not the two that stopped loops");
      assert.equal(plain((await k.execute(SIGINT_MODE)).outputs[0]), "'armed'");
      assert.equal(plain((await k.execute('kept')).outputs[0]), '7', 'state kept');
    });

    it('with the listener only (GRADLAB_KERNEL_SIGINT=listener), a cell adding a SIGINT listener does not leave the next SIGINT to kill the kernel', async () => {
      const k2 = await KernelClient.start({ cwd: ROOT, runtimeDir: RUNTIME, log: () => undefined, env: { ...process.env, GRADLAB_KERNEL_SIGINT: 'listener' } });
      try {
        assert.equal((await k2.execute("process.on('SIGINT', () => { (globalThis as any).heard = true; });")).status, 'ok');
        assert.equal(plain((await k2.execute(SIGINT_MODE)).outputs[0]), "'listener'");
        // Node ends a breakOnSigint run by setting SIGINT's handler to exit; the kernel puts the listeners' back.
        k2.interrupt();
        await delay(300);
        const r = await k2.execute('(globalThis as any).heard');
        assert.equal(plain(r.outputs[0]), 'true', JSON.stringify(r.reply));
        const loop = k2.execute('while (true) {}');
        await delay(600);
        k2.interrupt();
        assert.equal((await loop).reply.ename, 'Interrupted');
      } finally {
        await k2.shutdown();
      }
    });
  });

  describe('input (stdin channel)', () => {
    const stdout = (r: { outputs: KernelMessage[] }) => r.outputs.filter((m) => m.msg_type === 'stream').map((m) => String(m.content.text)).join('');

    it('sends input_request with the prompt and gives the cell the input_reply, synchronously (prompt, gl.input, readline)', async () => {
      const asked: [string, boolean][] = [];
      const answers = ['0.003', 's3cret', 'Ada', 'Lovelace'];
      const r = await k.execute(
        "import * as gl from 'gradlab';\nimport * as readline from 'readline';\nimport * as rlp from 'readline/promises';\n" +
        "console.log('before');\nconst lr = Number(prompt('lr? '));\nconst pw = gl.input('password: ', { password: true });\n" +
        "const rl = readline.createInterface({ input: process.stdin, output: process.stdout });\n" +
        "const first = await new Promise<string>((ok) => rl.question('first name? ', ok));\nrl.close();\n" +
        "const rl2 = rlp.createInterface({ input: process.stdin, output: process.stdout });\nconst last = await rl2.question('last name? ');\nrl2.close();\n" +
        'console.log(lr * 2, pw.length, first, last);',
        { onInput: (prompt, password) => { asked.push([prompt, password]); return answers.shift()!; } });
      assert.equal(r.status, 'ok', JSON.stringify(r.reply));
      assert.deepEqual(asked, [['lr? ', false], ['password: ', true], ['first name? ', false], ['last name? ', false]]);
      assert.equal(stdout(r), 'before\n0.006 6 Ada Lovelace\n');
    });

    for (const builder of ['0', '1']) {
      it(`imports a local .ts file that imports another, type-checked and run (${builder === '1' ? "tslab's builder program" : 'a plain program per cell'})`, async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-kernel-local-'));
        fs.writeFileSync(path.join(dir, 'scale.ts'), 'export const factor: number = 2;\n');
        fs.writeFileSync(path.join(dir, 'helper.ts'), "import { factor } from './scale';\nexport function twice(n: number): number {\n  return n * factor;\n}\n");
        const k2 = await KernelClient.start({ cwd: dir, runtimeDir: RUNTIME, log: () => undefined, env: { ...process.env, GRADLAB_KERNEL_BUILDER: builder } });
        try {
          const ok = await k2.execute("import { twice } from './helper';\nconst answer = twice(21);\nanswer");
          assert.equal(plain(ok.outputs[0]), '42', JSON.stringify(ok.reply));
          const later = await k2.execute('answer + twice(1)');
          assert.equal(plain(later.outputs[0]), '44', JSON.stringify(later.reply));
          const wrong = await k2.execute("twice('x')");
          assert.equal(wrong.reply.ename, 'TypeScriptError');
          assert.match(String(wrong.reply.evalue), /Argument of type 'string' is not assignable to parameter of type 'number'/);
        } finally {
          await k2.shutdown();
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }

    it('runs a cell sent again each time (its conversion reused), with its output, and checks it again after a declaration', async () => {
      const k2 = await start();
      try {
        await k2.execute('let again = 0;');
        const texts: string[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await k2.execute("console.log('run', again + 1);\n++again");
          texts.push(`${stdout(r).trim()} -> ${plain(r.outputs.find((m) => m.msg_type === 'execute_result'))}`);
        }
        assert.deepEqual(texts, ['run 1 -> 1', 'run 2 -> 2', 'run 3 -> 3']);
        // A declaration and a type error in between: the same cell is converted again and still runs.
        await k2.execute("const againText: string = 'x';");
        const wrong = await k2.execute('again = againText;');
        assert.equal(wrong.reply.ename, 'TypeScriptError');
        const same = await k2.execute("console.log('run', again + 1);\n++again");
        assert.equal(plain(same.outputs.find((m) => m.msg_type === 'execute_result')), '4');
      } finally {
        await k2.shutdown();
      }
    });

    it('types the global prompt (string | null) in a kernel where no cell imported gradlab', async () => {
      const k2 = await start();
      try {
        const typed = await k2.execute("const answer: string | null = prompt('lr? ', '0.1'); answer", { onInput: () => '0.3' });
        assert.equal(typed.status, 'ok', JSON.stringify(typed.reply));
        assert.equal(plain(typed.outputs[0]), "'0.3'");
        const wrong = await k2.execute("const lr = prompt('lr? ', '0.1', 3);");
        assert.equal(wrong.reply.ename, 'TypeScriptError');
        assert.match(String(wrong.reply.evalue), /Expected 0-2 arguments, but got 3/);
      } finally {
        await k2.shutdown();
      }
    });

    it('fails at once with StdinNotImplementedError when the request does not allow stdin (nbconvert, npm start)', async () => {
      const t0 = Date.now();
      const r = await k.execute("const answer = prompt('lr? ');");
      assert.equal(r.status, 'error');
      assert.equal(r.reply.ename, 'StdinNotImplementedError');
      assert.match(String(r.reply.evalue), /asked for input \("lr\? "\), but this front end does not take input: .*allow_stdin: false.*Write the value into the code/);
      const rl = await k.execute("import * as readline from 'readline';\nconst rl3 = readline.createInterface({ input: process.stdin });\nawait new Promise((ok) => rl3.question('x? ', ok));");
      assert.equal(rl.reply.ename, 'StdinNotImplementedError', JSON.stringify(rl.reply));
      assert.ok(Date.now() - t0 < 20_000, 'no hang');
      assert.equal(plain((await k.execute('1 + 1')).outputs[0]), '2', 'the kernel goes on');
    });

    it('an interrupt ends a cell waiting for input, and the kernel keeps its state', async () => {
      assert.equal((await k.execute('const keptForInput = 5;')).status, 'ok');
      let asked!: () => void;
      const requested = new Promise<void>((ok) => { asked = ok; });
      const pending = k.execute("import * as gl from 'gradlab';\nconst never = gl.input('waiting: ');", { onInput: () => { asked(); return new Promise<string>(() => undefined); } });
      await requested;
      await k.request('interrupt_request', {}, { channel: 'control' });
      const r = await pending;
      assert.equal(r.reply.ename, 'Interrupted', JSON.stringify(r.reply));
      assert.equal(plain((await k.execute('keptForInput * 2')).outputs[0]), '10');
    });
  });

  describe('security', () => {
    it('drops and logs a message whose signature does not match the key, and never runs it', async () => {
      const info = readConnectionFile(k.connectionFile);
      const marker = path.join(RUNTIME, `tampered-${process.pid}`);
      const dealer = new zmq.Dealer({ linger: 0 });
      dealer.connect(`tcp://127.0.0.1:${info.shell_port}`);
      const content = { code: `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`, silent: false,
        store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true };
      const frames = encode(new Signer('not-the-key'), { header: newHeader('execute_request', randomUUID()), content });
      try {
        await dealer.send(frames);
        // A properly signed request still runs: the tampered one reached a working kernel.
        const good = await k.execute('1');
        assert.equal(good.status, 'ok', JSON.stringify(good.reply));
        await delay(300);
      } finally {
        dealer.close();
      }
      assert.equal(fs.existsSync(marker), false, 'the tampered request ran');
      assert.match(k.stderrTail(), /dropped a message on shell: its HMAC signature does not match the connection key/);
    });

    it('drops and logs a signed message sent a second time (a replay), and runs it only once', async () => {
      const info = readConnectionFile(k.connectionFile);
      const marker = path.join(RUNTIME, `replayed-${process.pid}`);
      const dealer = new zmq.Dealer({ linger: 0 });
      dealer.connect(`tcp://127.0.0.1:${info.shell_port}`);
      const content = { code: `require('fs').appendFileSync(${JSON.stringify(marker)}, 'ran ')`, silent: false,
        store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true };
      const frames = encode(new Signer(info.key, info.signature_scheme), { header: newHeader('execute_request', randomUUID()), content });
      const replies: string[] = [];
      const reading = (async () => {
        for await (const reply of dealer) replies.push(reply.map((f) => f.toString()).join('|'));
      })().catch(() => undefined);
      try {
        await dealer.send(frames);
        await dealer.send(frames);
        const good = await k.execute('1'); // queued after both: when it answers, both were seen
        assert.equal(good.status, 'ok', JSON.stringify(good.reply));
        await delay(300);
      } finally {
        dealer.close();
        await reading;
      }
      assert.equal(fs.readFileSync(marker, 'utf8'), 'ran ', 'the replayed request ran twice');
      assert.equal(replies.filter((r) => r.includes('"execute_reply"')).length, 1, 'one execute_reply');
      assert.match(k.stderrTail(), /dropped a message on shell: its signature was already used: a replayed message/);
    });

    it("listens on the connection file's address (127.0.0.1) only", () => {
      const info = readConnectionFile(k.connectionFile);
      const ports = [info.shell_port, info.iopub_port, info.stdin_port, info.control_port, info.hb_port];
      const listening = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[3] === '0A') // LISTEN
        .map((f) => f[1]!.split(':'))
        .filter(([, port]) => ports.includes(parseInt(port!, 16)));
      assert.equal(listening.length, 5, 'five listening sockets');
      assert.ok(listening.every(([addr]) => addr === '0100007F'), `bound to ${listening.map((l) => l[0]).join(', ')}`);
    });
  });
});

describe("runtime errors at the cell's line", function () {
  this.timeout(60_000);
  // A kernel of its own: its execution counts are those of the cells below, nothing else ran there.
  let k: KernelClient;
  before(async () => {
    k = await start();
  });
  after(async () => k?.shutdown());
  const strip = (l: string) => l.replace(/\u001b\[[0-9;]*m/g, '');
  const fail = async (code: string) => {
    const r = await k.execute(code);
    assert.equal(r.status, 'error', JSON.stringify(r.reply));
    const tb = (r.reply.traceback as string[]).map(strip);
    // No compiled JavaScript's positions, no kernel machinery.
    assert.ok(!tb.some((l) => /evalmachine|gradlab-cell-|node_modules[\\/]tslab|node:|[\\/]dist[\\/]kernel[\\/]/.test(l)), tb.join('\n'));
    return { r, tb, n: r.executionCount };
  };
  /** The caret line under a cell line: the column it points at (0-based, in the cell line). */
  const caretAt = (tb: string[], src: string) => {
    const i = tb.findIndex((l) => l.endsWith(`| ${src}`));
    assert.ok(i >= 0, `the line ${src} is shown:\n${tb.join('\n')}`);
    const bar = tb[i]!.indexOf('| ');
    return tb[i + 1]!.indexOf('^') - bar - 2;
  };

  it('shows an error thrown in the cell at its line and column, with the line and a caret', async () => {
    const code = "const before = 1;\nconst o: any = { a: undefined };\nconst n = 3;\n\nfor (let i = 0; i < n; i++) {}\nconsole.log(before);\nconst v = o.a.length;";
    const { r, tb, n } = await fail(code);
    assert.deepEqual([r.reply.ename, r.reply.evalue], ['TypeError', "Cannot read properties of undefined (reading 'length')"]);
    assert.equal(tb[0], "TypeError: Cannot read properties of undefined (reading 'length')");
    assert.equal(tb[1], `    at Cell In[${n}], line 7, col 15`);
    assert.equal(caretAt(tb, 'const v = o.a.length;'), 'const v = o.a.'.length);
    assert.equal(tb.length, 4, tb.join('\n'));
  });

  it('names both cells, each with its own line, for a function of an earlier cell', async () => {
    const def = await k.execute("// helpers\nfunction half(x: number): number {\n  if (x < 0) throw new RangeError('half: x must be >= 0, got ' + x);\n  return x / 2;\n}");
    assert.equal(def.status, 'ok');
    const { tb, n } = await fail('const fine = half(4);\nhalf(-1);');
    assert.deepEqual(tb.filter((l) => /^\s+at /.test(l)), [
      `    at half (Cell In[${def.executionCount}], line 3, col 20)`,
      `    at Cell In[${n}], line 2, col 1`,
    ]);
    assert.equal(caretAt(tb, "  if (x < 0) throw new RangeError('half: x must be >= 0, got ' + x);"), '  if (x < 0) throw '.length);
  });

  it('keeps the frame inside gradlab (its .ts source) and maps the cell frame, with imports and top-level await', async () => {
    const { tb, n } = await fail("import * as gl from 'gradlab';\nawait gl.init({ backend: 'cpu' });\n\nconst p = 0.5;\nconst drop = new gl.nn.Dropout(p * 4);");
    const frames = tb.filter((l) => /^\s+at /.test(l));
    assert.match(frames[0]!, /^ {4}at new Dropout \(src[\\/]nn[\\/]dropout\.ts:\d+:\d+\)$/);
    assert.equal(frames[1], `    at Cell In[${n}], line 5, col 14`);
    assert.equal(caretAt(tb, 'const drop = new gl.nn.Dropout(p * 4);'), 'const drop = '.length);
  });

  it("reaches the cell's frame under TensorFlow.js's deep stacks, after an await", async () => {
    const { tb, n } = await fail("import * as gl from 'gradlab';\nawait new Promise((ok) => setTimeout(ok, 1));\nconst t = gl.tf.tensor([1, 2]);\nt.reshape([3]);");
    assert.ok(tb.includes(`    at Cell In[${n}], line 4, col 3`), tb.join('\n'));
    assert.equal(caretAt(tb, 't.reshape([3]);'), 2);
  });
});

describe('the gradlab kernel lifecycle', function () {
  this.timeout(60_000);
  after(() => fs.rmSync(RUNTIME, { recursive: true, force: true }));

  for (const restart of [false, true]) {
    it(`exits on shutdown_request (restart: ${restart}), stopping the processes its cells started`, async () => {
      const k = await start();
      const r = await k.execute("import { spawn } from 'child_process';\nconst child = spawn('sleep', ['300']);\nchild.pid");
      const sleeper = Number(plain(r.outputs[0]));
      assert.ok(sleeper > 0 && alive(sleeper), JSON.stringify(r.reply));
      const info = readConnectionFile(k.connectionFile);
      const reply = await k.request('shutdown_request', { restart }, { channel: 'control', timeoutMs: 5000 }).catch((e) => e);
      assert.deepEqual((reply as { reply?: unknown }).reply, { status: 'ok', restart });
      const kernelPid = k.child.pid!;
      assert.ok(await waitGone(kernelPid), 'the kernel exited');
      assert.ok(await waitGone(sleeper), 'the child process of a cell was stopped');
      await k.kill();
      // The ports are free again (a restart binds them anew).
      await Promise.all([info.shell_port, info.iopub_port, info.control_port, info.stdin_port, info.hb_port].map((p) => listenOnce(p)));
    });
  }

  it('exits with the process that started it, stopping the processes its cells started', async () => {
    const script = `
      const { KernelClient } = require(${JSON.stringify(path.join(ROOT, 'dist', 'kernel', 'client'))});
      (async () => {
        const k = await KernelClient.start({ cwd: ${JSON.stringify(ROOT)}, runtimeDir: ${JSON.stringify(RUNTIME)} });
        const r = await k.execute("import { spawn } from 'child_process';\\nspawn('sleep', ['300']).pid");
        console.log('pids', k.child.pid, r.outputs[0].content.data['text/plain']);
      })();`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [kernel, sleeper] = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      parent.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /pids (\d+) (\d+)/.exec(out);
        if (m) resolve([Number(m[1]), Number(m[2])]);
      });
      parent.on('exit', () => reject(new Error(`the parent exited first: ${out}`)));
    });
    assert.ok(alive(kernel) && alive(sleeper));
    parent.kill('SIGKILL');
    const gone = await waitGone(kernel, 10_000);
    const childGone = await waitGone(sleeper, 3000);
    for (const p of [kernel, sleeper]) if (alive(p)) process.kill(p, 'SIGKILL');
    assert.ok(gone, 'the kernel outlived its parent');
    assert.ok(childGone, "the cell's child process outlived the kernel");
  });

  it('exits on shutdown_request while a cell blocks in while (true) {}', async () => {
    const k = await start();
    void k.execute('while (true) {}').catch(() => undefined);
    await delay(2500);
    await k.request('shutdown_request', { restart: false }, { channel: 'control', timeoutMs: 5000 });
    assert.ok(await waitGone(k.child.pid!), 'the kernel exited');
    await k.kill();
  });
});

/** Every IOPub message from now on, decoded (the client itself only routes messages to pending requests). */
async function tapIopub(k: KernelClient): Promise<{ stop(): KernelMessage[]; allSigned(): boolean }> {
  const info = readConnectionFile(k.connectionFile);
  const signer = new Signer(info.key);
  const sub = new zmq.Subscriber({ linger: 0 });
  sub.connect(`tcp://127.0.0.1:${info.iopub_port}`);
  sub.subscribe();
  await delay(300); // ZeroMQ's slow joiner: let the subscription reach the kernel
  const seen: KernelMessage[] = [];
  let signed = true;
  void (async () => {
    try {
      for await (const frames of sub) {
        const i = frames.findIndex((f) => f.toString() === '<IDS|MSG>');
        signed &&= signer.verify(frames[i + 1]!, frames.slice(i + 2, i + 6));
        const [header, parent_header, metadata, content] = frames.slice(i + 2, i + 6).map((f) => JSON.parse(f.toString()));
        seen.push({ header, parent_header, metadata, content, msg_type: header.msg_type });
      }
    } catch {
      // closed
    }
  })();
  return {
    stop: () => {
      if (!sub.closed) sub.close();
      return seen;
    },
    allSigned: () => signed,
  };
}

function listenOnce(port: number): Promise<void> {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(port, '127.0.0.1', () => s.close(() => ok()));
  });
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net.Server>((ok) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => ok(s));
  })));
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}
