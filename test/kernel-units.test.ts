/**
 * The kernel's pure parts, without a kernel process: message signing,
 * history queries, cell syntax checks, error reports and tensor rendering.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CellScripts, decodeMappings, SourceMap } from '../kernel/cellmap';
import { diagnosticsError, exceptionError, isInterrupt, mapFrames } from '../kernel/errors';
import { globToRegExp, History } from '../kernel/history';
import { descendants } from '../kernel/procs';
import { resultBundle } from '../kernel/richresult';
import { codePointToIndex, helpRequest, indexToCodePoint, isComplete } from '../kernel/syntax';
import { decode, encode, endpoint, isFailure, newHeader, SignatureHistory, Signer } from '../kernel/wire';
import { formatValues, tensorBundle } from '../src/display/tensor';

const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

describe('kernel wire format', () => {
  const signer = new Signer('secret');
  const msg = { identities: [Buffer.from('peer')], header: newHeader('execute_request', 's1'), content: { code: '1' } };

  it('round-trips a signed message with its routing identities', () => {
    const m = decode(signer, encode(signer, msg));
    assert.ok(!isFailure(m));
    assert.deepEqual(m.identities, [Buffer.from('peer')]);
    assert.equal(m.header.msg_type, 'execute_request');
    assert.deepEqual(m.content, { code: '1' });
  });

  it('rejects a message signed with another key or with altered content, before parsing it', () => {
    const forged = decode(signer, encode(new Signer('other'), msg));
    assert.ok(isFailure(forged) && forged.reason === 'bad signature');
    const frames = encode(signer, msg);
    frames[frames.length - 1] = Buffer.from('{"code": "require(\'child_process\')"}');
    const altered = decode(signer, frames);
    assert.ok(isFailure(altered) && altered.reason === 'bad signature');
    const truncated = decode(signer, frames.slice(0, 3));
    assert.ok(isFailure(truncated) && truncated.reason === 'no delimiter');
  });

  it('refuses a replayed message (a signature already accepted) and forgets the oldest beyond its capacity', () => {
    const history = new SignatureHistory(3);
    const frames = encode(signer, msg);
    assert.ok(!isFailure(decode(signer, frames, history)));
    const again = decode(signer, frames, history);
    assert.ok(isFailure(again) && again.reason === 'duplicate signature');
    assert.ok(!isFailure(decode(signer, frames)), 'without a history nothing is remembered');
    const fresh = () => encode(signer, { ...msg, header: newHeader('execute_request', 's1') });
    for (let i = 0; i < 3; i++) assert.ok(!isFailure(decode(signer, fresh(), history)));
    assert.equal(history.size, 3);
    assert.ok(!isFailure(decode(signer, frames, history)), 'the first signature was forgotten after 3 newer ones');
    const unsigned = new Signer('');
    const plain = encode(unsigned, msg);
    assert.ok(!isFailure(decode(unsigned, plain, history)) && !isFailure(decode(unsigned, plain, history)),
      'without a key there is no signature to remember (and no security: the kernel logs that)');
    assert.throws(() => new SignatureHistory(0), /capacity must be a positive integer/);
  });

  it('does not sign with an empty key, and refuses unknown signature schemes', () => {
    assert.equal(new Signer('').sign([Buffer.from('x')]), '');
    assert.throws(() => new Signer('k', 'rsa-sha256'), /unsupported signature_scheme "rsa-sha256"/);
  });

  it('addresses tcp as ip:port ([ip]:port for IPv6) and ipc as ip-port', () => {
    assert.equal(endpoint({ transport: 'tcp', ip: '127.0.0.1' }, 5), 'tcp://127.0.0.1:5');
    assert.equal(endpoint({ transport: 'ipc', ip: '/tmp/k' }, 5), 'ipc:///tmp/k-5');
    assert.equal(endpoint({ transport: 'tcp', ip: '::1' }, 5), 'tcp://[::1]:5');
  });
});

describe('kernel history', () => {
  const h = new History();
  h.add(1, 'const a = 1;');
  h.add(2, 'a + 1', '2');
  h.add(3, 'a + 1', '2');
  h.add(4, 'console.log(a)');

  it('gives the last n entries, with outputs when asked', () => {
    assert.deepEqual(h.query({ hist_access_type: 'tail', n: 2 }), [[1, 3, 'a + 1'], [1, 4, 'console.log(a)']]);
    assert.deepEqual(h.query({ hist_access_type: 'tail', n: 1, output: true }), [[1, 4, ['console.log(a)', null]]]);
  });

  it('gives a range [start, stop) of this session, and nothing for earlier sessions', () => {
    assert.deepEqual(h.query({ hist_access_type: 'range', session: 1, start: 2, stop: 3 }), [[1, 2, 'a + 1']]);
    assert.equal(h.query({ hist_access_type: 'range', session: 0, start: 1 }).length, 4);
    assert.deepEqual(h.query({ hist_access_type: 'range', session: -1, start: 1 }), []);
  });

  it('searches with a whole-cell glob, unique and n as IPython does', () => {
    assert.equal(h.query({ hist_access_type: 'search', pattern: 'a*' }).length, 2);
    assert.deepEqual(h.query({ hist_access_type: 'search', pattern: 'a*', unique: true }), [[1, 3, 'a + 1']]);
    assert.deepEqual(h.query({ hist_access_type: 'search', pattern: '*a*', n: 1 }), [[1, 4, 'console.log(a)']]);
  });

  it('reads globs like SQLite: * ? and [classes], anchored, case-sensitive', () => {
    assert.ok(globToRegExp('a ? 1').test('a + 1'));
    assert.ok(!globToRegExp('a').test('a + 1'));
    assert.ok(globToRegExp('[ab]*').test('b.c'));
    assert.ok(!globToRegExp('[^ab]*').test('b.c'));
    assert.ok(!globToRegExp('A*').test('a'));
    assert.ok(globToRegExp('(x).y').test('(x).y'));
  });
});

describe('kernel syntax checks', () => {
  it("says complete, incomplete (with the next line's indent) or invalid", () => {
    assert.deepEqual(isComplete('const x = 1;'), { status: 'complete' });
    assert.deepEqual(isComplete('if (x) {\n  f();'), { status: 'incomplete', indent: '  ' });
    assert.deepEqual(isComplete('const a = [1,'), { status: 'incomplete', indent: '  ' });
    assert.equal(isComplete('`template ${x}').status, 'incomplete');
    assert.equal(isComplete('/* comment').status, 'incomplete');
    for (const bad of ['1 + )', 'const = 5;', '}', "let s = 'open"]) assert.equal(isComplete(bad).status, 'invalid', bad);
  });

  it('recognises help requests (name? ?name name??) and nothing else', () => {
    assert.deepEqual(helpRequest('Math.max?'), { expr: 'Math.max', detail: 0 });
    assert.deepEqual(helpRequest('?gl.plot.line'), { expr: 'gl.plot.line', detail: 0 });
    assert.deepEqual(helpRequest('x??'), { expr: 'x', detail: 1 });
    for (const code of ['a ? b : c', 'a?.b', 'x ?? y', 'Math.max', '?x?']) assert.equal(helpRequest(code), undefined, code);
  });

  it("converts Jupyter's code point cursor positions to UTF-16 offsets and back", () => {
    const s = '"😀" + ab';
    assert.equal(codePointToIndex(s, 3), 4);
    assert.equal(indexToCodePoint(s, 4), 3);
    assert.equal(codePointToIndex('abc', 2), 2);
  });
});

describe('kernel error reports', () => {
  it('turns diagnostics into TypeScriptError with line:column, code, the line and a caret', () => {
    const e = diagnosticsError([{ start: { line: 1, character: 6 }, end: { line: 1, character: 9 }, messageText: 'Bad.', code: 2322 }], 'a;\nconst bad = 1;');
    assert.equal(e.ename, 'TypeScriptError');
    assert.equal(e.evalue, '2:7 - Bad. (TS2322)');
    assert.deepEqual(e.traceback.map(strip), ['TypeScriptError: 2:7 - Bad. (TS2322)', '2 | const bad = 1;', '  |       ^^^']);
  });

  it('keeps an exception name, message and its frames, without the kernel machinery', () => {
    const err = new TypeError('x is not a function');
    err.stack = 'TypeError: x is not a function\n    at f (/r/lib/x.js:3:4)\n    at evalmachine.<anonymous>:1:1\n    at Object.execute (/r/node_modules/tslab/dist/executor.js:1:1)\n    at node:internal/x:1:1';
    const e = exceptionError(err);
    assert.deepEqual([e.ename, e.evalue], ['TypeError', 'x is not a function']);
    assert.deepEqual(e.traceback.map(strip), ['TypeError: x is not a function', '    at f (/r/lib/x.js:3:4)']);
    assert.deepEqual([exceptionError('plain').ename, exceptionError('plain').evalue], ['Error', 'plain']);
  });

  it('recognises both kinds of interrupt', () => {
    assert.ok(isInterrupt(Object.assign(new Error('Script execution was interrupted by `SIGINT`'), { code: 'ERR_SCRIPT_EXECUTION_INTERRUPTED' })));
    assert.ok(isInterrupt(new Error('Interrupted asynchronously')));
    assert.equal(exceptionError(new Error('Interrupted asynchronously')).ename, 'Interrupted');
  });
});

describe('kernel: runtime errors at the cell\'s line (kernel/cellmap.ts)', () => {
  it('decodes Base64 VLQ mappings: relative fields, the column reset per line, negative steps', () => {
    // 'D' is -1, 'C' is +1, 'gB' is +16.
    assert.deepEqual(decodeMappings('AAAA,CAAC;AACD,gBAAA;;A'), [[[0, 0, 0, 0], [1, 0, 0, 1]], [[0, 0, 1, 0], [16, 0, 1, 0]], [], []]);
    assert.throws(() => decodeMappings('A!'), /bad Base64 digit/);
  });

  it("finds a generated position's source through a map that TypeScript wrote", () => {
    const ts = require('typescript') as typeof import('typescript'); // eslint-disable-line @typescript-eslint/no-require-imports
    const src = 'const a: number = 1;\nconst b: any = null;\nconst c = b.x;';
    const out = ts.transpileModule(src, { fileName: 'in.ts', compilerOptions: { sourceMap: true, target: ts.ScriptTarget.ES2020 } });
    const map = new SourceMap(out.sourceMapText!);
    const js = out.outputText.split('\n');
    const line = js.findIndex((l) => l.includes('b.x'));
    const p = map.find(line, js[line]!.indexOf('x'));
    assert.deepEqual(p, { source: 'in.ts', line: 2, column: src.split('\n')[2]!.indexOf('x') });
  });

  it('maps frames of a registered cell to its label, line and column, and nothing for tslab\'s wrapper around it', () => {
    const cells = new CellScripts();
    // A one-to-one map: generated line i is cell line i - 1 (tslab's `export {};` is line 0 of the source).
    const identity = JSON.stringify({ version: 3, sources: ['a.js'], mappings: 'AAAA;AACA;AACA' });
    const esMap = JSON.stringify({ version: 3, sources: ['__tslab__.ts'], mappings: 'AACA;AACA;AACA' });
    const url = cells.add({ code: 'const o: any = null;\n  o.deep;', executionCount: 7, prefix: 30, sourceMaps: [identity, esMap] }).match(/sourceURL=(\S+)/)![1]!;
    assert.deepEqual(cells.frame(url, 2, 5), { label: 'Cell In[7]', code: 'const o: any = null;\n  o.deep;', line: 1, column: 4 });
    assert.equal(cells.frame(url, 1, 31)!.column, 0, 'the wrapper in front of the first line is not part of the cell');
    assert.equal(cells.frame(url, 9, 1), undefined, "tslab's wrapper line after the cell");
    assert.equal(cells.frame('gradlab-cell-999', 1, 1), undefined);
  });

  it('composes one map or several (outermost first), and refuses a cell without a map', () => {
    const cells = new CellScripts();
    // One map straight from the JavaScript that runs to the emitted cell (line 0: `export {};`).
    const direct = JSON.stringify({ version: 3, sources: ['__tslab__.ts'], mappings: 'AACA;AACA;AACA' });
    const url = cells.add({ code: 'const o: any = null;\n  o.deep;', executionCount: 3, prefix: 30, sourceMaps: [direct] }).match(/sourceURL=(\S+)/)![1]!;
    assert.deepEqual(cells.frame(url, 2, 5), { label: 'Cell In[3]', code: 'const o: any = null;\n  o.deep;', line: 1, column: 4 });
    // Three maps: each one-to-one, shifting a line; the last one is the emit's.
    const shift = JSON.stringify({ version: 3, sources: ['x.js'], mappings: ';AAAA;AACA;AACA' });
    const url3 = cells.add({ code: 'a\nb\nc', prefix: 0, sourceMaps: [shift, shift, direct] }).match(/sourceURL=(\S+)/)![1]!;
    assert.equal(cells.frame(url3, 3, 1)!.line, 0, 'generated line 2 -> 1 -> 0 -> cell line 0 (emitted line 1)');
    assert.throws(() => cells.add({ code: 'x', prefix: 0, sourceMaps: [] }), /at least one source map/);
  });

  it('decodes a cell\'s maps only when a frame needs them: a map that does not parse leaves the frame unmapped', () => {
    const lazy = new SourceMap('not json', true); // no error until a lookup
    assert.throws(() => lazy.find(0, 0), SyntaxError);
    assert.throws(() => new SourceMap('not json'), SyntaxError, 'eager by default');
    const cells = new CellScripts();
    const good = JSON.stringify({ version: 3, sources: ['a.js'], mappings: 'AAAA' });
    const url = cells.add({ code: 'x', prefix: 0, sourceMaps: [good, '{"sources": [], "mappings": "A!"}'] }).match(/sourceURL=(\S+)/)![1]!;
    assert.equal(cells.frame(url, 1, 1), undefined);
  });

  it('keeps frames outside cells, names .ts sources of compiled files, collapses long runs inside node_modules', () => {
    const lib = (i: number) => `    at f${i} (${path.join(process.cwd(), 'node_modules', 'x', 'x.js')}:${i}:1)`;
    const out = mapFrames([lib(1), lib(2), lib(3), lib(4), lib(5), '    at evalmachine.<anonymous>:1:1', '    at async Promise.all (index 0)']);
    assert.deepEqual(out, ['    at f1 (node_modules/x/x.js:1:1)', '    ... 3 more frames inside node_modules', '    at f5 (node_modules/x/x.js:5:1)', '    at async Promise.all (index 0)']);
    // A real error thrown in gradlab's compiled dist/ names the .ts source next to the .js.map.
    const { Dropout } = require('../src/nn/dropout') as typeof import('../src/nn/dropout'); // eslint-disable-line @typescript-eslint/no-require-imports
    let err: unknown;
    try {
      new Dropout(2);
    } catch (e) {
      err = e;
    }
    const tb = exceptionError(err).traceback.map(strip);
    assert.match(tb[1]!, /^ {4}at new Dropout \(src[\\/]nn[\\/]dropout\.ts:\d+:\d+\)$/, tb.join('\n'));
  });
});

describe('tensor rendering', () => {
  it('prints values as nested brackets with aligned columns', () => {
    assert.equal(formatValues([1, 2.5, 3, -4], [2, 2], 'float32'), '[[  1, 2.5],\n [  3,  -4]]');
    assert.equal(formatValues([7], [], 'int32'), '7');
    assert.equal(formatValues([1, 0], [2], 'bool'), '[ true, false]');
    assert.equal(formatValues([], [0, 3], 'float32'), '[]');
  });

  it('elides above the threshold, keeping edgeItems at each end of each axis', () => {
    const v = Array.from({ length: 12 }, (_, i) => i);
    assert.equal(formatValues(v, [12], 'int32', { threshold: 10, edgeItems: 2 }), '[ 0,  1, ..., 10, 11]');
    const m = Array.from({ length: 36 }, (_, i) => i);
    assert.equal(formatValues(m, [6, 6], 'int32', { threshold: 10, edgeItems: 1 }), '[[ 0, ...,  5],\n ...,\n [30, ..., 35]]');
  });

  it('uses exponents for very small and very large floats, and rounds to the precision', () => {
    assert.equal(formatValues([1e-7, 123456789.5, 0.123456], [3], 'float32'), '[1.0000e-7, 1.2346e+8,    0.1235]');
  });

  it('renders a tensor-like object as text/html and text/plain, and a disposed one without values', async () => {
    const t = { shape: [2], dtype: 'float32', size: 2, isDisposed: false, data: async () => new Float32Array([1, 2]), dataSync: () => [] };
    const b = await tensorBundle(t);
    assert.equal(b['text/plain'], 'Tensor [2] float32, 2 values\n[1, 2]');
    assert.match(String(b['text/html']), /<pre[^>]*>\[1, 2\]<\/pre>/);
    const gone = await tensorBundle({ ...t, isDisposed: true });
    assert.equal(gone['text/plain'], 'Tensor [2] (disposed: its data has been freed)');
  });

  it('shows a gradlab autograd tensor with its op, label and gradient state', async () => {
    const data = { shape: [1], dtype: 'float32', size: 1, isDisposed: false, data: async () => new Float32Array([3]), dataSync: () => [] };
    const node = { shape: [1], requiresGrad: true, isDisposed: false, data, grad: { ...data }, describe: () => "leaf 'w' [1]" };
    const b = await tensorBundle(node);
    assert.equal(b['text/plain'], "Tensor leaf 'w' [1] float32, 1 value, requiresGrad, grad [1]\n[3]");
  });

  it('gives every execute_result a text/plain, also for bundles without one', async () => {
    const b = await resultBundle({ [Symbol.for('Jupyter.display')]: () => ({ 'text/html': '<i>x</i>' }) });
    assert.equal(b.data['text/plain'], '<object shown as text/html>');
    assert.deepEqual((await resultBundle('s')).data, { 'text/plain': "'s'" });
  });
});

describe('kernel child processes', () => {
  it('finds the descendants of a process, grandchildren included', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    try {
      let found: number[] = [];
      for (let i = 0; i < 50 && found.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        found = descendants();
      }
      assert.ok(found.includes(child.pid!), 'the child');
      assert.ok(found.length >= 2, `the sleep under it: ${found}`);
    } finally {
      for (const p of descendants(child.pid!)) process.kill(p, 'SIGKILL');
      child.kill('SIGKILL');
    }
  });
});

describe("kernel: tslab's converter with the shorthand and property-name fixes (kernel/converter.ts)", function () {
  this.timeout(60_000);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { converterModule } = require('../kernel/converter') as typeof import('../kernel/converter');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { TypeScriptSession } = require('../kernel/session') as typeof import('../kernel/session');
  let s: InstanceType<typeof TypeScriptSession>;
  before(() => {
    s = new TypeScriptSession(process.cwd());
  });
  after(() => s.close());

  it('applies to the installed tslab (an upgrade that drops it fails here)', () => {
    assert.equal(converterModule().patched, true);
  });

  const value = async (code: string) => {
    const r = await s.run(code);
    assert.equal(r.status, 'ok', JSON.stringify(r));
    return (r as { value?: unknown }).value;
  };

  it('lets a shorthand name an earlier cell variable, function or let (plain tslab: ReferenceError)', async () => {
    await value('const a = 1;\nlet b = 2;\nfunction f() { return 3; }');
    assert.deepEqual(await value('const o = { a, b, f };\n[o.a, o.b, o.f()]'), [1, 2, 3]);
    // in a nested function, called later
    assert.equal(await value('const g = () => ({ a, b });\ng().a + g().b'), 3);
  });

  it('keeps shorthands of local names local, and writes destructuring assignments back to the earlier cell', async () => {
    assert.equal(await value('(() => { const a = 10; const q = { a }; return q.a; })()'), 10);
    assert.equal(await value('({ b } = { b: 5 });\nb'), 5);
    assert.equal(await value('({ b = 7 } = {});\nb'), 7);
    assert.equal(await value('b'), 7);
  });

  it('keeps working when files it watches change between cells (hard links to node_modules/@types made and removed)', async function () {
    // Plain tslab threw "Unexpected pending rebuildTimer" from TypeScript's file-watcher
    // callbacks here (mocha reports that uncaught exception as this test's failure); with
    // tfjs-backend-wasm loaded that error killed the kernel.
    await value("import * as gl from 'gradlab';\nconst watched: number = 1;");
    const types = path.join(process.cwd(), 'node_modules', '@types');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-watch-'));
    try {
      try {
        execFileSync('cp', ['-al', types, tmp]);
      } catch (e) {
        this.skip(); // hard links need one file system; without them the event cannot be made here
      }
      fs.rmSync(tmp, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 1500)); // the watchers' events arrive
      assert.equal(await value('watched + 1'), 2);
      assert.equal(await value("typeof gl.describe()"), 'string');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('leaves property names alone: destructuring with a rename, literals and parameters typed by an earlier cell', async () => {
    await value('const obj = { c: 3, d: 4 };');
    assert.deepEqual(await value('const { c: cc, d } = obj;\n[cc, d]'), [3, 4]); // plain tslab: SyntaxError
    assert.equal(await value('function h({ c: z }: typeof obj) { return z; }\nh(obj)'), 3);
    assert.deepEqual(await value('const lit: typeof obj = { c: 5, d: 6 };\nconst { obj: inner } = { obj: 7 };\n[lit.c, inner, obj.c]'), [5, 7, 3]);
  });

  it('gives a cell run again in the same program its last conversion; a declaration, a changed imported file or a type error convert again', async function () {
    const hits = () => (s as unknown as { node: { gradlabMemoHits(): number } }).node.gradlabMemoHits();
    const outcome = async (code: string) => {
      const before = hits();
      const r = await s.run(code);
      return { r, hit: hits() - before };
    };
    await value('let memoCount = 0;');
    // The same expression cell twice: converted once, run twice (the run's effect happens both times).
    assert.deepEqual(await outcome('++memoCount'), { r: { status: 'ok', hasValue: true, value: 1 }, hit: 0 });
    assert.deepEqual(await outcome('++memoCount'), { r: { status: 'ok', hasValue: true, value: 2 }, hit: 1 });
    // A declaration in between changes the earlier cells' declarations: converted again.
    await value('const memoStep = 10;');
    assert.deepEqual(await outcome('++memoCount'), { r: { status: 'ok', hasValue: true, value: 3 }, hit: 0 });
    // A type error is found again each time, never kept.
    for (let i = 0; i < 2; i++) {
      const { r, hit } = await outcome("memoCount.toUpperCase()");
      assert.equal(hit, 0);
      assert.equal(r.status === 'error' && r.ename, 'TypeScriptError');
    }
    // A file that an earlier cell imported changes on disk: TypeScript's watcher makes a new
    // program, so the same cell is checked again and its new type error shows. (A .ts file outside
    // the working directory is refused by the kernel's rootDir, so it is made under it.)
    const dir = fs.mkdtempSync(path.join(process.cwd(), '.gradlab-memo-'));
    const mod = path.join(dir, 'memoed.ts');
    try {
      fs.writeFileSync(mod, 'export const memoed: number = 1.5;\n');
      // An import declares a name, as `const` does: that cell is converted again each time.
      await value(`import { memoed } from './${path.basename(dir)}/memoed';`);
      const cell = 'memoed.toFixed(1)';
      assert.deepEqual(await outcome(cell), { r: { status: 'ok', hasValue: true, value: '1.5' }, hit: 0 });
      assert.deepEqual(await outcome(cell), { r: { status: 'ok', hasValue: true, value: '1.5' }, hit: 1 });
      fs.writeFileSync(mod, "export const memoed: string = 'x';\n");
      let last: Awaited<ReturnType<typeof outcome>> | undefined;
      for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((ok) => setTimeout(ok, 200))) {
        last = await outcome(cell);
        if (last.r.status === 'error') break;
        assert.equal(last.hit, 1, 'until the watcher reports the change, the program is the same');
      }
      assert.equal(last!.hit, 0);
      assert.equal(last!.r.status === 'error' && /Property 'toFixed' does not exist on type 'string'/.test(last!.r.evalue), true, JSON.stringify(last!.r));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("makes TypeScript's folder watchers after the first cell's result, and finds a file an import missed, made meanwhile", () => {
    // A fresh process: this one's session has run cells already, so its watchers are made.
    const base = fs.mkdtempSync(path.join(process.cwd(), '.gradlab-late-'));
    const script = `const fs = require('fs'), path = require('path');
const { converterModule } = require(${JSON.stringify(path.join(__dirname, '..', 'kernel', 'converter.js'))});
converterModule();
const ts = require(require.resolve('@tslab/typescript-for-tslab', { paths: [path.dirname(require.resolve('tslab/package.json'))] }));
let made = 0;
const watchDirectory = ts.sys.watchDirectory;
ts.sys.watchDirectory = function (...args) { made++; return watchDirectory.apply(this, args); };
const { TypeScriptSession } = require(${JSON.stringify(path.join(__dirname, '..', 'kernel', 'session.js'))});
(async () => {
  const s = new TypeScriptSession(process.cwd());
  const cell = "import { late } from './${path.basename(base)}/late';\\nlate * 6";
  const atStart = made;
  const first = await s.run(cell);
  const afterFirst = made;
  fs.writeFileSync(${JSON.stringify(path.join(base, 'late.ts'))}, 'export const late: number = 7;\\n');
  const second = await s.run(cell);
  const afterSecond = made;
  s.startWatches();
  const again = made;
  console.log(JSON.stringify({ atStart, afterFirst, afterSecond, again, first: first.status === 'error' && /TS2307/.test(first.evalue), second: second.value }));
  process.exit(0);
})();`;
    try {
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').pop()!);
      assert.equal(out.atStart, 0, 'no folder watcher while the session starts');
      // The kernel makes them once the first reply is out (kernel.ts); a session left alone, at its second cell.
      assert.equal(out.afterFirst, 0, 'no folder watcher before the first cell\'s result is out');
      assert.ok(out.afterSecond > 0, 'folder watchers made by the second cell');
      assert.equal(out.again, out.afterSecond, 'startWatches makes them once');
      assert.deepEqual([out.first, out.second], [true, 42], 'the import that failed finds the file made since');
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('converts every cell again under GRADLAB_KERNEL_MEMO=0', () => {
    const { createConverter } = converterModule().module;
    const saved = process.env.GRADLAB_KERNEL_MEMO;
    const c = createConverter({ isJS: false, isBrowser: false }) as ReturnType<typeof createConverter> & { gradlabMemoHits(): number };
    try {
      const twice = () => [c.convert('', '2 * 21'), c.convert('', '2 * 21')];
      delete process.env.GRADLAB_KERNEL_MEMO;
      const [a, b] = twice();
      assert.equal(c.gradlabMemoHits(), 1);
      assert.deepEqual(b, a);
      process.env.GRADLAB_KERNEL_MEMO = '0';
      const [a0, b0] = twice();
      assert.equal(c.gradlabMemoHits(), 1);
      assert.deepEqual([a0, b0], [a, a]);
    } finally {
      if (saved === undefined) delete process.env.GRADLAB_KERNEL_MEMO;
      else process.env.GRADLAB_KERNEL_MEMO = saved;
      c.close();
    }
  });

  it("emits a cell's CommonJS in one step, as tslab's two steps did (same code; enums and namespaces equivalent)", () => {
    // Two converters fed the same cells: one writes CommonJS from the checked program
    // (one source map), the other takes tslab's second transpileModule (GRADLAB_KERNEL_TWO_STEP=1).
    const { createConverter } = converterModule().module;
    const direct = createConverter({ isJS: false, isBrowser: false });
    const twoStep = createConverter({ isJS: false, isBrowser: false });
    const cells = [
      '1 + 1',
      'const a = 1; let b = 2; var c = 3;',
      'b = b + a; c++; b',
      'function f(x: number) { return x * a; }\nf(2)',
      'class K { constructor(public v: number) {} get w() { return this.v + b; } }\nnew K(3).w',
      'enum E { A, B = 5 }\nE.B',
      'interface I { x: number }\ntype T = I | string;\nconst i: I = { x: 1 };\ni',
      "import * as path from 'path';\npath.join('a', 'b')",
      "import { join as j } from 'path';\nimport fs from 'fs';\nj('x') + typeof fs.readFileSync",
      'const o = { a, b };\nconst { a: aa, ...rest } = o;\nrest',
      'let [p, q = 2] = [1];\n[p, q] = [q, p];\np',
      'const r = await Promise.resolve(5);\nr',
      "const mod = await import('path');\nmod.sep",
      'let z = 1; z = 2; z += 3; function hz() { return z; }\nhz()',
      'namespace NS { export const n = 1; }\nNS.n',
      "import type { Stats } from 'fs';\nlet st: Stats | null = null;\nst",
      'z++; f(z) + E.A + new K(1).v',
    ];
    const saved = process.env.GRADLAB_KERNEL_TWO_STEP;
    try {
      let [declD, declT] = ['', ''];
      for (const cell of cells) {
        delete process.env.GRADLAB_KERNEL_TWO_STEP;
        const d = direct.convert(declD, cell);
        process.env.GRADLAB_KERNEL_TWO_STEP = '1';
        const t = twoStep.convert(declT, cell);
        assert.deepEqual([d.diagnostics, t.diagnostics], [[], []], cell);
        assert.equal((d as { sourceMaps?: string[] }).sourceMaps?.length, 1, `one map: ${cell}`);
        assert.equal((t as { sourceMaps?: string[] }).sourceMaps?.length, 2, `two maps: ${cell}`);
        assert.doesNotMatch(d.output!, /sourceMappingURL|^\s*(import|export)\s/m, cell);
        assert.deepEqual([d.declOutput, d.lastExpressionVar, d.hasToplevelAwait], [t.declOutput, t.lastExpressionVar, t.hasToplevelAwait], cell);
        // TypeScript's CommonJS emit from the original tree assigns `exports.E = E` after an enum's
        // or namespace's body instead of inside it; everything else is the same text.
        const norm = (js: string) => js.replace(/exports\.(\w+) = \1;\n/g, '').replace(/\(exports\.(\w+) = \1 = \{\}\)/g, '($1 = {})');
        assert.equal(norm(d.output!), norm(t.output!), cell);
        [declD, declT] = [d.declOutput!, t.declOutput!];
      }
    } finally {
      if (saved === undefined) delete process.env.GRADLAB_KERNEL_TWO_STEP;
      else process.env.GRADLAB_KERNEL_TWO_STEP = saved;
      direct.close();
      twoStep.close();
    }
  });
});

describe("kernel: TypeScript's V8 code cache (kernel/converter.ts)", () => {
  it("lives in the user's own cache folder (never a shared temp folder), or GRADLAB_KERNEL_CACHE", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { codeCacheDir } = require('../kernel/converter') as typeof import('../kernel/converter');
    assert.equal(codeCacheDir({ GRADLAB_KERNEL_CACHE: '/x/y' }), '/x/y');
    assert.equal(codeCacheDir({ XDG_CACHE_HOME: '/c' }), path.join('/c', 'gradlab', 'kernel'));
    assert.equal(codeCacheDir({}), path.join(os.homedir(), '.cache', 'gradlab', 'kernel'));
  });

  it('writes the cache after a first start, uses it on the next, and recompiles a damaged one', function () {
    this.timeout(120_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-cache-test-'));
    const converter = path.resolve(__dirname, '..', 'kernel', 'converter.js');
    // A fresh process each time: TypeScript loads once per process.
    const start = () => execFileSync(process.execPath, ['-e', `
      const c = require(${JSON.stringify(converter)});
      const used = c.loadTypeScript(${JSON.stringify(dir)});
      const { createConverter } = c.converterModule().module;
      const conv = createConverter({ isJS: false, isBrowser: false });
      const r = conv.convert('', 'const x: number = 1 + 1; x');
      conv.close();
      c.saveTypeScriptCache();
      console.log(JSON.stringify({ used, ok: r.diagnostics.length === 0 && /1 \\+ 1/.test(r.output) }));
    `], { encoding: 'utf8' });
    // A copy and code cache of another TypeScript, unused for 30 days: deleted when the new copy is written.
    const old = Date.now() / 1000 - 30 * 24 * 3600;
    for (const f of ['typescript-0123456789abcdef.ascii.js', 'typescript-0123456789abcdef.v8cache']) {
      fs.writeFileSync(path.join(dir, f), 'old');
      fs.utimesSync(path.join(dir, f), old, old);
    }
    try {
      assert.deepEqual(JSON.parse(start()), { used: false, ok: true });
      const cacheFiles = fs.readdirSync(dir).filter((f) => f.endsWith('.v8cache'));
      assert.equal(cacheFiles.length, 1, fs.readdirSync(dir).join());
      assert.ok(fs.statSync(path.join(dir, cacheFiles[0]!)).size > 100_000);
      // TypeScript's source, escaped to ASCII, kept beside the cache (0600) and read from there next time.
      const copy = path.join(dir, cacheFiles[0]!.replace(/\.v8cache$/, '.ascii.js'));
      assert.equal(fs.statSync(copy).mode & 0o777, 0o600);
      assert.equal(require('buffer').isAscii(fs.readFileSync(copy)), true);
      assert.deepEqual(fs.readdirSync(dir).sort(), [cacheFiles[0]!, path.basename(copy)].sort());
      // A copy in use has its time brought forward (at most once a day), so that it is never pruned.
      const threeDays = Date.now() / 1000 - 3 * 24 * 3600;
      fs.utimesSync(copy, threeDays, threeDays);
      assert.deepEqual(JSON.parse(start()), { used: true, ok: true });
      assert.ok(Date.now() - fs.statSync(copy).mtimeMs < 3600_000, 'marked used');
      // A copy that others could write is not run: the source is escaped again from TypeScript's own file.
      fs.chmodSync(copy, 0o666);
      fs.writeFileSync(copy, 'throw new Error("not this one")');
      assert.deepEqual(JSON.parse(start()), { used: true, ok: true });
      assert.equal(fs.statSync(copy).mode & 0o777, 0o600, 'written again');
      const files = cacheFiles;
      fs.writeFileSync(path.join(dir, files[0]!), 'damaged');
      assert.deepEqual(JSON.parse(start()), { used: false, ok: true }, 'V8 rejects it; the kernel compiles TypeScript itself');
      assert.deepEqual(JSON.parse(start()), { used: true, ok: true }, 'and writes a good cache again');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("kernel: old TypeScript copies and code caches (kernel/converter.ts)", () => {
  it('deletes those unused for a week, a code cache with its copy, and keeps the rest', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { pruneStaleCopies, STALE_COPY_MS } = require('../kernel/converter') as typeof import('../kernel/converter');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-prune-test-'));
    const now = Date.now();
    const put = (name: string, ageMs: number) => {
      fs.writeFileSync(path.join(dir, name), 'x');
      fs.utimesSync(path.join(dir, name), (now - ageMs) / 1000, (now - ageMs) / 1000);
    };
    const key = (c: string) => `typescript-${c.repeat(16)}`;
    try {
      put(`${key('a')}.ascii.js`, STALE_COPY_MS + 60_000); // stale copy: goes, with its cache
      put(`${key('a')}.v8cache`, 1000);
      put(`${key('b')}.ascii.js`, 60_000); // in use: its old cache stays with it
      put(`${key('b')}.v8cache`, STALE_COPY_MS * 3);
      put(`${key('c')}.v8cache`, STALE_COPY_MS * 2); // an older kernel's cache without a copy
      put(`${key('d')}.v8cache`, 1000); // recent, without a copy: stays
      put('snapshot.json', STALE_COPY_MS * 5); // not a TypeScript copy: never touched
      assert.deepEqual(pruneStaleCopies(dir, now).sort(), [`${key('a')}.ascii.js`, `${key('a')}.v8cache`, `${key('c')}.v8cache`]);
      assert.deepEqual(fs.readdirSync(dir).sort(), ['snapshot.json', `${key('b')}.ascii.js`, `${key('b')}.v8cache`, `${key('d')}.v8cache`]);
      assert.deepEqual(pruneStaleCopies(path.join(dir, 'missing'), now), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("kernel: TypeScript's source as one byte per character (kernel/converter.ts)", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { asciiSource } = require('../kernel/converter') as typeof import('../kernel/converter');
  it('escapes every character outside ASCII, and the program means the same', () => {
    const src = "// it’s a comment → here\nconst s = 'a’b→c😀'; const re = /[’→]/u;\nconst t = `x→${1}`;\nmodule.exports = [s, re.test('→'), re.test('x'), t, s.length];";
    const out = asciiSource(src);
    assert.equal(require('buffer').isAscii(Buffer.from(out, 'latin1')), true);
    assert.match(out, /it\\u2019s a comment \\u2192 here/);
    const run = (code: string) => {
      const m = { exports: undefined as unknown };
      new Function('module', code)(m);
      return m.exports;
    };
    assert.deepEqual(run(out), run(src));
    assert.deepEqual(run(src), ['a’b→c😀', true, false, 'x→1', 7]);
    assert.equal(asciiSource('plain ascii'), 'plain ascii');
  });
});

describe('kernel: the startup snapshot (kernel/snapshot.ts)', function () {
  this.timeout(300_000);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const snap = require('../kernel/snapshot') as typeof import('../kernel/snapshot');
  const tsLib = path.dirname(snap.typeScriptFile());
  // Two declaration files a kernel parses (small ones keep the build short).
  const files = [path.join(tsLib, 'lib.es2015.symbol.d.ts'), path.join(tsLib, 'lib.es2016.array.include.d.ts')];
  let base: string;
  let dir: string;
  let blob: string;
  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'gradlab-snapshot-test-'));
    dir = path.join(base, 'cache');
    blob = snap.buildSnapshot(dir, files);
  });
  after(() => fs.rmSync(base, { recursive: true, force: true }));

  /** A stand-in for kernel.js: the snapshot's main function calls its startFromSnapshot. */
  const probe = () => {
    const file = path.join(base, 'probe.js');
    fs.writeFileSync(file, `exports.startFromSnapshot = (args) => {
      const fs = require('fs');
      const s = globalThis.__gradlabSnapshot, cache = globalThis.__gradlabPreparsed, ts = s.ts;
      const f = ${JSON.stringify(files[0])};
      const before = cache.size;
      // The program's read of a parsed file: its parsed text, not read again while its size and time are unchanged.
      let reads = 0;
      const rfs = fs.readFileSync, sst = fs.statSync;
      fs.readFileSync = function (p, ...rest) { if (String(p) === f) reads++; return rfs.call(this, p, ...rest); };
      const same = ts.sys.readFile(f) === cache.get(f).file.text;
      const readsUnchanged = reads;
      fs.statSync = function (p, ...rest) { const st = sst.call(this, p, ...rest); return String(p) === f ? { size: st.size, mtimeMs: st.mtimeMs + 1 } : st; };
      const again = ts.sys.readFile(f) === cache.get(f).file.text;
      const readsChanged = reads;
      fs.readFileSync = rfs;
      fs.statSync = sst;
      const hit = ts.createSourceFile(f, ts.sys.readFile(f), { languageVersion: ts.ScriptTarget.ES2022 });
      const afterHit = cache.size;
      ts.createSourceFile(${JSON.stringify(files[1])}, 'interface Changed {}', { languageVersion: ts.ScriptTarget.ES2022 });
      console.log(JSON.stringify({ args, before, afterHit, afterMiss: cache.size, statements: hit.statements.length, bound: hit.locals instanceof Map && hit.locals.size > 0, stack: new Error('x').stack.split('\\n').length > 1, reads: [same, readsUnchanged, again, readsChanged] }));
    };`);
    return file;
  };

  it('builds into a 0700 folder (files 0600), is used when it fits, and answers parses from its parsed and bound files', () => {
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(blob).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dir, snap.MANIFEST)).mode & 0o777, 0o600);
    assert.equal(snap.usableSnapshot(dir), blob);
    const out = JSON.parse(execFileSync(process.execPath, ['--snapshot-blob', blob, probe(), '--config-path', 'x'], { encoding: 'utf8' }));
    // The same file with the same text: the parsed one, handed out once; other text: parsed as usual.
    assert.deepEqual(out, { args: ['--config-path', 'x'], before: 2, afterHit: 1, afterMiss: 1, statements: out.statements, bound: true, stack: true, reads: [true, 0, true, 1] });
    assert.ok(out.statements > 0);
  });

  it('starts its child with glibc asked for huge pages, and gives cells the launcher\'s GLIBC_TUNABLES back', () => {
    const round = (env: NodeJS.ProcessEnv) => {
      const child = snap.snapshotChildEnv(env);
      const seen = { ...child };
      snap.takeLaunchInfo(seen);
      return [child.GLIBC_TUNABLES, seen.GLIBC_TUNABLES, 'GRADLAB_KERNEL_GLIBC_TUNABLES' in seen];
    };
    if (process.platform !== 'linux') return void assert.equal(round({}).at(0), undefined);
    assert.deepEqual(round({}), ['glibc.malloc.hugetlb=1', undefined, false]);
    assert.deepEqual(round({ GLIBC_TUNABLES: 'glibc.malloc.check=0' }), ['glibc.malloc.check=0:glibc.malloc.hugetlb=1', 'glibc.malloc.check=0', false]);
    // A user's own choice for it is kept.
    assert.deepEqual(round({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }), ['glibc.malloc.hugetlb=0', 'glibc.malloc.hugetlb=0', false]);
    assert.deepEqual(round({ GLIBC_TUNABLES: '' }), ['glibc.malloc.hugetlb=1', '', false]);
  });

  it('writes the launch file kernel/launch.sh reads: the snapshot and the inputs it fits, 0600, and none without a usable snapshot', () => {
    const d = fs.mkdtempSync(path.join(base, 'launchfile-'));
    fs.chmodSync(d, 0o700);
    snap.writeLaunchFile(d);
    assert.equal(fs.existsSync(path.join(d, snap.LAUNCH_FILE)), false, 'no snapshot there: no file');
    snap.writeLaunchFile(dir);
    const file = path.join(dir, snap.LAUNCH_FILE);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const tsFile = snap.typeScriptFile();
    const entry = path.join(__dirname, '..', 'kernel', 'kernel.js');
    assert.deepEqual(lines, ['gradlab-launch 2', snap.blobKey(blob), blob, snap.statSignature(blob), entry, process.execPath, snap.statSignature(process.execPath), tsFile, snap.statSignature(tsFile), '1', '']);
    // The signature is what GNU stat prints (size, time to the nanosecond).
    if (process.platform === 'linux') assert.equal(execFileSync('stat', ['-L', '-c', '%s %.9Y', blob], { encoding: 'utf8' }).trim(), snap.statSignature(blob));
    // The measured starts favour starting without it: the last line says so.
    const key = snap.blobKey(blob);
    const startsFile = path.join(dir, snap.STARTS);
    const had = fs.existsSync(startsFile) ? fs.readFileSync(startsFile) : undefined;
    try {
      fs.writeFileSync(startsFile, JSON.stringify([{ mode: 'snapshot', ms: 5000, key }, { mode: 'snapshot', ms: 5200, key }, { mode: 'plain', ms: 1000 }, { mode: 'plain', ms: 1100 }]), { mode: 0o600 });
      snap.writeLaunchFile(dir);
      assert.equal(fs.readFileSync(file, 'utf8').split('\n')[9], '0');
    } finally {
      if (had) fs.writeFileSync(startsFile, had, { mode: 0o600 });
      else fs.rmSync(startsFile, { force: true });
    }
    snap.writeLaunchFile(dir);
  });

  it('kernel/launch.sh starts Node from the snapshot in its own place only while the launch file fits, else kernel.js', function () {
    if (process.platform === 'win32') this.skip();
    const sh = path.join(__dirname, '..', '..', 'kernel', 'launch.sh');
    // A stand-in for kernel.js: as the snapshot's main function's entry, or run as a program.
    const entry = path.join(base, 'launch-probe.js');
    fs.writeFileSync(entry, `const say = (mode, args) => console.log(JSON.stringify({ mode, args, pid: process.pid, from: process.env.GRADLAB_KERNEL_FROM ?? null,
      tunables: process.env.GLIBC_TUNABLES ?? null, was: process.env.GRADLAB_KERNEL_GLIBC_TUNABLES ?? null }));
exports.startFromSnapshot = (args) => say('snapshot', args);
if (require.main === module) say('plain', process.argv.slice(2));`);
    snap.writeLaunchFile(dir);
    const file = path.join(dir, snap.LAUNCH_FILE);
    // The launch file as a kernel wrote it, for the stand-in's checkout (its line 5 names the kernel.js it is for).
    const good = fs.readFileSync(file, 'utf8').split('\n').map((l, i) => (i === 4 ? entry : l)).join('\n');
    fs.writeFileSync(file, good, { mode: 0o600 });
    const run = (env: NodeJS.ProcessEnv = {}, launchEnv: NodeJS.ProcessEnv = { GRADLAB_KERNEL_CACHE: dir }) => {
      const all: NodeJS.ProcessEnv = { ...process.env, GRADLAB_KERNEL_LAUNCH_DEBUG: '1', ...launchEnv, ...env };
      for (const k of ['GRADLAB_KERNEL_SNAPSHOT', 'GLIBC_TUNABLES', 'GRADLAB_KERNEL_GLIBC_TUNABLES', 'GRADLAB_KERNEL_FROM']) if (!(k in env)) delete all[k];
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete all[k];
      const child = spawnSync('/bin/sh', [sh, process.execPath, entry, '--config-path', 'a b'], { env: all, encoding: 'utf8' });
      assert.equal(child.status, 0, child.stderr);
      const out = JSON.parse(child.stdout) as { mode: string; args: string[]; pid: number; from: string | null; tunables: string | null; was: string | null };
      assert.deepEqual(out.args, ['--config-path', 'a b']);
      // exec: the kernel keeps the launcher's process (spawnSync's child is the shell).
      assert.equal(out.pid, child.pid, 'the shell execs Node');
      return { ...out, why: String(child.stderr).trim() };
    };
    const mode = (env?: NodeJS.ProcessEnv, launchEnv?: NodeJS.ProcessEnv) => run(env, launchEnv).mode;
    try {
      const r = run();
      assert.equal(r.mode, 'snapshot', r.why);
      assert.equal(r.from, snap.blobKey(blob));
      assert.match(r.why, /^gradlab launch.sh: snapshot: /);
      assert.equal(mode({ GRADLAB_KERNEL_SNAPSHOT: '0' }), 'plain');
      // Where kernel/converter.ts codeCacheDir looks: GRADLAB_KERNEL_CACHE, else $XDG_CACHE_HOME/gradlab/kernel, else $HOME/.cache/gradlab/kernel.
      for (const [variable, sub] of [['XDG_CACHE_HOME', ['gradlab', 'kernel']], ['HOME', ['.cache', 'gradlab', 'kernel']]] as const) {
        const top = fs.mkdtempSync(path.join(base, 'launch-home-'));
        const where = path.join(top, ...sub);
        fs.mkdirSync(where, { recursive: true, mode: 0o700 });
        fs.writeFileSync(path.join(where, snap.LAUNCH_FILE), good, { mode: 0o600 });
        const env = { GRADLAB_KERNEL_CACHE: undefined, XDG_CACHE_HOME: variable === 'XDG_CACHE_HOME' ? top : undefined, [variable]: top };
        // (codeCacheDir takes HOME from os.homedir(), this process's own.)
        if (variable === 'XDG_CACHE_HOME') assert.equal(require('../kernel/converter').codeCacheDir(env as NodeJS.ProcessEnv), where);
        assert.equal(mode(env, {}), 'snapshot', variable);
      }
      // The user's GLIBC_TUNABLES: kept and handed back (takeLaunchInfo), as snapshotChildEnv does.
      for (const v of [undefined, '', 'glibc.malloc.check=0', 'glibc.malloc.hugetlb=0']) {
        const o = run({ GLIBC_TUNABLES: v });
        const js = snap.snapshotChildEnv(v === undefined ? {} : { GLIBC_TUNABLES: v });
        assert.deepEqual([o.tunables, o.was], [js.GLIBC_TUNABLES ?? null, js.GRADLAB_KERNEL_GLIBC_TUNABLES ?? null], `GLIBC_TUNABLES=${v}`);
        const back: NodeJS.ProcessEnv = { ...(o.tunables === null ? {} : { GLIBC_TUNABLES: o.tunables }), ...(o.was === null ? {} : { GRADLAB_KERNEL_GLIBC_TUNABLES: o.was }) };
        snap.takeLaunchInfo(back);
        assert.deepEqual(back, v === undefined ? {} : { GLIBC_TUNABLES: v }, `GLIBC_TUNABLES=${v} given back`);
      }
      // Starts measured slower from the snapshot: without it, unless GRADLAB_KERNEL_SNAPSHOT=1.
      const lines = good.split('\n');
      const edited = (i: number, v: string) => fs.writeFileSync(file, lines.map((l, j) => (j === i ? v : l)).join('\n'), { mode: 0o600 });
      edited(9, '0');
      assert.equal(mode(), 'plain');
      assert.equal(mode({ GRADLAB_KERNEL_SNAPSHOT: '1' }), 'snapshot');
      // Anything that no longer fits: kernel.js decides.
      for (const [i, v, what] of [[0, 'gradlab-launch 1', 'another format'], [3, '1 2.000000000', "the blob's size and time"], [4, path.join(base, 'other', 'kernel.js'), 'another checkout'],
        [5, '/usr/local/bin/node', 'another Node'], [6, '1 2.000000000', "Node's size and time"], [8, '1 2.000000000', "TypeScript's size and time"], [2, path.join(base, 'gone.blob'), 'a blob that is gone']] as const) {
        edited(i, v);
        const o = run();
        assert.equal(o.mode, 'plain', `${what}: ${o.why}`);
        assert.match(o.why, /^gradlab launch.sh: plain: /);
      }
      fs.writeFileSync(file, good, { mode: 0o600 });
      assert.equal(mode(), 'snapshot');
      // A blob written again in place (same size, a new time) no longer fits.
      const bytes = fs.readFileSync(blob);
      fs.writeFileSync(blob, bytes);
      assert.equal(mode(), 'plain', 'rewritten blob');
      fs.writeFileSync(file, good.replace(/^(\d+ [\d.]+)$/m, snap.statSignature(blob)), { mode: 0o600 });
      assert.equal(mode(), 'snapshot');
      // Others could write the folder or the file: kernel.js decides (and kernel/launch.ts refuses such a folder too).
      fs.chmodSync(dir, 0o777);
      assert.equal(mode(), 'plain', 'a folder others can write');
      fs.chmodSync(dir, 0o700);
      fs.chmodSync(file, 0o666);
      assert.equal(mode(), 'plain', 'a launch file others can write');
      fs.chmodSync(file, 0o600);
      fs.rmSync(file);
      assert.equal(mode(), 'plain', 'no launch file');
    } finally {
      fs.chmodSync(dir, 0o700);
      snap.writeLaunchFile(dir);
    }
  });

  it("times a start on the monotonic clock the launcher and its kernel share: a child's origin lies between its spawn and its answer", () => {
    const mono = () => Number(process.hrtime.bigint()) / 1e6;
    const mod = JSON.stringify(path.join(__dirname, '..', 'kernel', 'snapshot.js'));
    for (let i = 0; i < 3; i++) {
      const before = mono();
      const origin = Number(execFileSync(process.execPath, ['-e', `console.log(require(${mod}).monotonicOriginMs())`], { encoding: 'utf8' }));
      const after = mono();
      assert.ok(before <= origin && origin <= after, `child origin ${origin} outside [${before}, ${after}]`);
    }
    // Without a launcher, the launch is this process's own origin.
    const own = snap.takeLaunchInfo({}).launched;
    const now = performance.now(), later = mono() - now;
    assert.ok(Math.abs(own - snap.monotonicOriginMs()) < 0.05 && own <= later, `own origin ${own}, then ${later}`);
  });

  it("chooses a start from the snapshot or without it by the kernels' own measured starts", () => {
    const k = 'abc';
    const S = (ms: number, key = k) => ({ mode: 'snapshot' as const, ms, key });
    const P = (ms: number) => ({ mode: 'plain' as const, ms });
    const choose = (starts: import('../kernel/snapshot').StartRecord[]) => snap.chooseStart(k, starts).snapshot;
    assert.equal(choose([]), true, 'a new snapshot is tried');
    assert.equal(choose([S(900)]), true, 'until two starts from it are measured');
    assert.equal(choose([S(900), S(950)]), false, 'then two without it');
    assert.equal(choose([S(900), S(950), P(1000)]), false);
    assert.equal(choose([S(900), S(950), P(1000), P(1200)]), true, 'then the smaller median');
    assert.equal(choose([S(1900), S(1950), P(1000), P(1200)]), false);
    assert.equal(choose([S(500, 'old'), S(500, 'old'), P(1000), P(1200)]), true, "another snapshot's starts do not count: measure this one");
    // The newest five of each kind decide: old slow starts from the snapshot age out.
    assert.equal(choose([S(5000), S(5000), S(5000), S(900), S(900), S(900), S(900), S(900), P(1000), P(1000)]), true);
    assert.match(snap.chooseStart(k, [S(900), S(950), P(1000), P(1200)]).why, /median start 925 ms from the snapshot, 1100 ms without it/);
  });

  it('keeps the newest five starts of each kind in a 0600 file, and none in a folder others can write', () => {
    const d = fs.mkdtempSync(path.join(base, 'starts-'));
    fs.chmodSync(d, 0o700);
    for (let i = 1; i <= 7; i++) {
      snap.recordStart({ mode: 'snapshot', ms: i, key: 'a' }, d);
      snap.recordStart({ mode: 'plain', ms: 100 + i }, d);
    }
    snap.recordStart({ mode: 'snapshot', ms: 1, key: 'b' }, d);
    const all = snap.readStarts(d);
    assert.deepEqual(all.filter((r) => r.key === 'a').map((r) => r.ms), [3, 4, 5, 6, 7]);
    assert.deepEqual(all.filter((r) => r.mode === 'plain').map((r) => r.ms), [103, 104, 105, 106, 107]);
    assert.deepEqual(all.filter((r) => r.key === 'b').map((r) => r.ms), [1]);
    assert.equal(fs.statSync(path.join(d, snap.STARTS)).mode & 0o777, 0o600);
    // A damaged record reads as none, and entries that are not starts are dropped.
    fs.writeFileSync(path.join(d, snap.STARTS), '[{"mode":"snapshot","ms":', { mode: 0o600 });
    assert.deepEqual(snap.readStarts(d), []);
    fs.writeFileSync(path.join(d, snap.STARTS), JSON.stringify([{ mode: 'x', ms: 1 }, { mode: 'plain', ms: -1 }, { mode: 'plain', ms: 7 }]), { mode: 0o600 });
    assert.deepEqual(snap.readStarts(d), [{ mode: 'plain', ms: 7 }]);
    // Others could write the folder: nothing is read or written there.
    fs.chmodSync(d, 0o777);
    snap.recordStart({ mode: 'plain', ms: 9 }, d);
    assert.deepEqual(snap.readStarts(d), []);
    fs.chmodSync(d, 0o700);
    assert.deepEqual(snap.readStarts(d), [{ mode: 'plain', ms: 7 }]);
  });

  it('is not used when an input changed, its blob is cut short, or others could write its folder', () => {
    const t = fs.statSync(files[0]!).mtime;
    const manifest = path.join(dir, snap.MANIFEST);
    const saved = fs.readFileSync(manifest, 'utf8');
    try {
      fs.writeFileSync(manifest, saved.replace(/"key":"[0-9a-f]+"/, '"key":"0000000000000000"'));
      assert.equal(snap.usableSnapshot(dir), undefined, 'a key that does not match the files');
      fs.writeFileSync(manifest, saved);
      const m = JSON.parse(saved) as { files: string[] };
      fs.writeFileSync(manifest, JSON.stringify({ ...JSON.parse(saved), files: [...m.files, path.join(base, 'gone.d.ts')] }));
      assert.equal(snap.usableSnapshot(dir), undefined, 'a file that is gone');
      fs.writeFileSync(manifest, saved);
      fs.chmodSync(dir, 0o777);
      assert.equal(snap.usableSnapshot(dir), undefined, 'a folder others can write');
      fs.chmodSync(dir, 0o700);
      fs.writeFileSync(manifest, 'not json');
      assert.equal(snap.usableSnapshot(dir), undefined, 'a damaged manifest');
      fs.writeFileSync(manifest, saved);
      assert.equal(snap.usableSnapshot(dir), blob);
      // Changing an input file's time (as an upgrade of @types/node does) changes the key.
      assert.notEqual(snap.snapshotKey(files), snap.snapshotKey([files[0]!]));
      const copy = path.join(base, 'copy.d.ts');
      fs.copyFileSync(files[0]!, copy);
      const k1 = snap.snapshotKey([copy]);
      fs.utimesSync(copy, new Date(t.getTime() + 5000), new Date(t.getTime() + 5000));
      assert.notEqual(snap.snapshotKey([copy]), k1);
    } finally {
      fs.chmodSync(dir, 0o700);
      fs.writeFileSync(manifest, saved);
    }
    const bytes = fs.readFileSync(blob);
    try {
      fs.writeFileSync(blob, bytes.subarray(0, 1000));
      assert.equal(snap.usableSnapshot(dir), undefined, 'a blob cut short');
    } finally {
      fs.writeFileSync(blob, bytes);
    }
  });

  it('falls back when a blob of the right size is damaged: the child dies before starting, the blob is deleted', async () => {
    const bytes = fs.readFileSync(blob);
    const damaged = path.join(base, 'damaged.blob');
    fs.writeFileSync(damaged, Buffer.alloc(bytes.length, 7));
    assert.equal(await snap.runFromSnapshot(damaged, probe(), []), false);
    assert.equal(fs.existsSync(damaged), false);
  });

  it('starts a kernel from it (through kernel/launch.sh, or kernel.js and kernel/launch.ts when the launch file no longer fits), and without it when its blob is damaged', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { KernelClient } = require('../kernel/client') as typeof import('../kernel/client');
    const env: NodeJS.ProcessEnv = { ...process.env, GRADLAB_KERNEL_CACHE: dir };
    delete env.GRADLAB_KERNEL_SNAPSHOT;
    const check = async (more: NodeJS.ProcessEnv = {}) => {
      const k = await KernelClient.start({ cwd: process.cwd(), env: { ...env, ...more }, log: () => undefined });
      try {
        const r = await k.execute("[1 + 1, typeof (globalThis as any).__gradlabSnapshot, new Error('x').stack!.split('\\n').length > 1]");
        const text = r.outputs.find((m) => m.msg_type === 'execute_result')?.content.data as Record<string, string> | undefined;
        // kernel/launch.sh execs Node: the kernel is the process the client started, not a child of a launcher (kernel/launch.ts).
        const pid = (await k.execute('process.pid')).outputs.find((m) => m.msg_type === 'execute_result')?.content.data as Record<string, string> | undefined;
        const own = pid?.['text/plain'] === String(k.child.pid);
        const bad = await k.execute("const n: number = 'a';");
        // Types from the snapshot's two files (parsed and bound ahead): Array.includes, Symbol.for.
        const lib = await k.execute("const has: number = [1, 2].includes(2);");
        const libOk = await k.execute("[[1, 2].includes(2), typeof Symbol.for('k')]");
        const libText = libOk.outputs.find((m) => m.msg_type === 'execute_result')?.content.data as Record<string, string> | undefined;
        return { text: text?.['text/plain'], typeError: bad.status, libError: String(lib.reply.evalue).match(/TS\d+/)?.[0], lib: libText?.['text/plain'], own };
      } finally {
        await k.shutdown();
      }
    };
    const lib = { libError: 'TS2322', lib: "[ true, 'symbol' ]" };
    // The blob's time changed since the launch file was written: kernel/launch.sh leaves the choice to
    // kernel.js, whose launcher (kernel/launch.ts) starts the kernel from the snapshot in a child.
    fs.utimesSync(blob, new Date(), new Date(Date.now() - 60_000));
    assert.deepEqual(await check(), { text: "[ 2, 'object', true ]", typeError: 'error', ...lib, own: false });
    // That kernel wrote the launch file again: now kernel/launch.sh starts Node from the snapshot itself.
    assert.deepEqual(await check(), { text: "[ 2, 'object', true ]", typeError: 'error', ...lib, own: true });
    // The kernel measured its start (launch to the first cell's check and emit) and kept it.
    const starts = snap.readStarts(dir);
    assert.deepEqual(starts.map((r) => [r.mode, r.key]), [['snapshot', snap.blobKey(blob)], ['snapshot', snap.blobKey(blob)]]);
    assert.ok(starts[0]!.ms > 50 && starts[0]!.ms < 120_000, String(starts[0]!.ms));
    assert.equal(fs.statSync(path.join(dir, snap.STARTS)).mode & 0o777, 0o600);
    // Starts from this snapshot measured slower than starts without it: the next kernel starts
    // without it, unless GRADLAB_KERNEL_SNAPSHOT=1.
    const key = snap.blobKey(blob);
    fs.writeFileSync(path.join(dir, snap.STARTS), JSON.stringify([
      { mode: 'snapshot', ms: 5000, key }, { mode: 'snapshot', ms: 5200, key }, { mode: 'plain', ms: 1000 }, { mode: 'plain', ms: 1100 },
    ]), { mode: 0o600 });
    // (A kernel writes the launch file for kernel/launch.sh right after it records its start: so here.)
    snap.writeLaunchFile(dir);
    assert.equal((await check()).text, "[ 2, 'undefined', true ]");
    assert.deepEqual(await check({ GRADLAB_KERNEL_SNAPSHOT: '1' }), { text: "[ 2, 'object', true ]", typeError: 'error', ...lib, own: true });
    // The launch information is not left in the environment that cells (and what they start) see,
    // and GLIBC_TUNABLES is the user's own again (the process itself started with huge pages asked for).
    const leaked = async (tunables?: string) => {
      const base: NodeJS.ProcessEnv = { ...env, GRADLAB_KERNEL_SNAPSHOT: '1' };
      delete base.GLIBC_TUNABLES;
      const k = await KernelClient.start({ cwd: process.cwd(), env: tunables === undefined ? base : { ...base, GLIBC_TUNABLES: tunables }, log: () => undefined });
      try {
        const r = await k.execute(`console.log(JSON.stringify([typeof (globalThis as any).__gradlabSnapshot, Object.keys(process.env).filter((k) => /^GRADLAB_KERNEL_(LAUNCHED|FROM|GLIBC_TUNABLES)$/.test(k)).length,
          process.env.GLIBC_TUNABLES ?? null, require('fs').readFileSync('/proc/self/environ', 'latin1').split('\\0').find((v: string) => v.startsWith('GLIBC_TUNABLES=')) ?? null]))`);
        return JSON.parse(r.outputs.filter((m) => m.msg_type === 'stream').map((m) => String(m.content.text)).join(''));
      } finally {
        await k.shutdown();
      }
    };
    if (process.platform === 'linux') {
      assert.deepEqual(await leaked(), ['object', 0, null, 'GLIBC_TUNABLES=glibc.malloc.hugetlb=1']);
      // (glibc 2.36 writes the variable back cut after its first tunable; the second still takes effect.)
      assert.deepEqual((await leaked('glibc.malloc.mmap_threshold=131072')).slice(0, 3), ['object', 0, 'glibc.malloc.mmap_threshold=131072']);
    }
    fs.writeFileSync(blob, Buffer.alloc(fs.statSync(blob).size, 7));
    assert.deepEqual(await check({ GRADLAB_KERNEL_SNAPSHOT: '1' }), { text: "[ 2, 'undefined', true ]", typeError: 'error', ...lib, own: true }, 'started without the damaged snapshot');
    assert.equal(fs.existsSync(blob), false, 'the damaged blob is deleted');
  });
});

describe('kernel: the SIGINT relay (kernel/sigint.ts)', function () {
  this.timeout(60_000);
  /** Run `body` (CommonJS, `relay` and `vm` in scope, armed) in a child Node; returns what it printed as JSON. */
  const inChild = (body: string): Record<string, unknown> => {
    const script = `const { SigintRelay } = require(${JSON.stringify(path.join(__dirname, '..', 'kernel', 'sigint.js'))});
const vm = require('vm');
const cp = require('child_process');
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const busy = (ms) => { const t = Date.now(); try { vm.runInThisContext('{ const until = Date.now() + ' + ms + '; while (Date.now() < until) {} }', { breakOnSigint: true }); return 'ran ' + (Date.now() - t); } catch (e) { return (/interrupted by .SIGINT/.test(e.message) ? 'interrupted ' : e.message + ' ') + (Date.now() - t); } };
(async () => {
  let heard = 0;
  const relay = new SigintRelay(() => heard++);
  const armed = await relay.arm();
  ${body}
})().catch((e) => { console.log(JSON.stringify({ error: String(e.stack) })); process.exit(1); });`;
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 50_000 }).trim().split('\n').pop()!);
  };
  const ms = (r: string) => Number(r.split(' ')[1]);

  it('arms; a SIGINT between runs reaches onSigint, one during a run stops that run, and per-run costs no thread', () => {
    const r = inChild(`
      const between = [];
      for (let i = 0; i < 3; i++) { process.kill(process.pid, 'SIGINT'); await sleep(50); between.push(heard); }
      cp.spawn('sh', ['-c', 'sleep 0.3; kill -INT ' + process.pid], { stdio: 'ignore' });
      const stopped = busy(5000);
      const N = 500; let t = performance.now();
      for (let i = 0; i < N; i++) vm.runInThisContext('(function () { return ' + i + '; })()', { breakOnSigint: true });
      const perRun = (performance.now() - t) / N;
      console.log(JSON.stringify({ armed, mode: relay.mode, between, stopped, perRun, counts: relay.counts }));
      process.exit(0);`);
    assert.equal(r.armed, true, JSON.stringify(r));
    assert.equal(r.mode, 'armed');
    assert.deepEqual(r.between, [1, 2, 3], 'each SIGINT between runs reached onSigint once');
    assert.match(String(r.stopped), /^interrupted /);
    assert.ok(ms(String(r.stopped)) < 3000, `the run stopped at ${r.stopped} ms, not after its 5 s`);
    assert.ok(Number(r.perRun) < 1, `a breakOnSigint run took ${r.perRun} ms`);
  });

  it('never leaves a run uninterruptible: a SIGINT taken by a parker just as a run begins is passed on to the run', () => {
    const r = inChild(`
      const runs = [];
      for (let i = 0; i < 8; i++) {
        cp.spawn('sh', ['-c', 'sleep 0.3; kill -INT ' + process.pid], { stdio: 'ignore' });
        await sleep(30);
        process.kill(process.pid, 'SIGINT'); // a parker wakes while the run below begins
        runs.push(busy(5000));
        await sleep(400);
      }
      for (let w = 0; w < 50 && heard < 8; w++) await sleep(100); // the last round's second SIGINT, on a slow machine
      console.log(JSON.stringify({ armed, runs, counts: relay.counts, heard }));
      process.exit(0);`);
    assert.equal(r.armed, true, JSON.stringify(r));
    const runs = r.runs as string[];
    for (const run of runs) {
      assert.match(run, /^interrupted /, JSON.stringify(r));
      assert.ok(ms(run) < 3000, `a run stopped only after ${run} ms of its 5000: ${JSON.stringify(r)}`);
    }
    // Of each round's two SIGINTs one stopped the run (directly, or passed on by a parker that
    // woke as the run began: counts.passedOn, 0-8 depending on timing); the other came between runs.
    const counts = r.counts as { betweenCells: number; passedOn: number };
    assert.equal(counts.betweenCells, 8, `one SIGINT a round reached onSigint between runs: ${JSON.stringify(r)}`);
    assert.equal(r.heard, 8);
    assert.ok(counts.passedOn <= 8);
  });

  it("keeps cells' own SIGINT listeners off libuv while armed, and calls them for a SIGINT between runs", () => {
    const r = inChild(`
      let mine = 0;
      vm.runInThisContext('0', { breakOnSigint: true });
      process.on('SIGINT', () => mine++);
      process.kill(process.pid, 'SIGINT');
      await sleep(100);
      cp.spawn('sh', ['-c', 'sleep 0.3; kill -INT ' + process.pid], { stdio: 'ignore' });
      const stopped = busy(5000);
      await sleep(100);
      console.log(JSON.stringify({ armed, mine, heard, stopped }));
      process.exit(0);`);
    assert.equal(r.armed, true, JSON.stringify(r));
    assert.equal(r.mine, 1, 'the listener heard the SIGINT between runs (not the one that stopped the run)');
    assert.equal(r.heard, 1);
    assert.match(String(r.stopped), /^interrupted /, JSON.stringify(r));
  });

  it('stays with the listener under GRADLAB_KERNEL_SIGINT=listener', () => {
    const before = process.env.GRADLAB_KERNEL_SIGINT;
    process.env.GRADLAB_KERNEL_SIGINT = 'listener';
    try {
      const r = inChild(`
        process.kill(process.pid, 'SIGINT');
        await sleep(100);
        console.log(JSON.stringify({ armed, mode: relay.mode, heard }));
        process.exit(0);`);
      assert.deepEqual(r, { armed: false, mode: 'listener', heard: 1 });
    } finally {
      if (before === undefined) delete process.env.GRADLAB_KERNEL_SIGINT;
      else process.env.GRADLAB_KERNEL_SIGINT = before;
    }
  });
});
