/**
 * The gradlab Jupyter kernel: tslab's TypeScript compiler and executor
 * (type-checked cells, completion, inspection) behind gradlab's own protocol
 * server, which adds what tslab's server lacks: rich `execute_result`s,
 * structured errors, `execute_input`, history, `is_complete` 'invalid',
 * aborting queued cells after an error, interrupts on the control channel,
 * signature checks, and a socket thread that stays responsive while a cell
 * blocks.
 *
 * Two threads (kernel/bridge.ts): the server thread (kernel/server.ts) owns
 * the sockets; this main thread runs cells in a {@link TypeScriptSession}
 * (kernel/session.ts) and posts their outputs back. Cells' stdout and stderr
 * become `stream` messages, also when written after the cell finished.
 *
 * Rich output from notebook code: the library's `display()` finds a sink under
 * `Symbol.for('gradlab.display.sink')` (src/display/sink.ts) and never imports
 * the kernel. The sink registered here writes through tslab's
 * `lastWriteDisplayData` (`tslab/dist/jupyter`), which this kernel points at
 * the running cell, so tslab's own `display` API (`import * as tslab from
 * 'tslab'`) works too; a bundle is ONE `display_data` with all its MIME types.
 *
 * Usage (what kernel.json runs): node dist/kernel/kernel.js --config-path <connection file>
 * (kernel/launch.ts starts it from a startup snapshot when one fits, kernel/snapshot.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { StringDecoder } from 'string_decoder';
import { inspect } from 'util';
import { Worker } from 'worker_threads';
import { INPUT_KEY, type InputOptions } from '../src/display/input';
import { SINK_KEY, type DisplaySink } from '../src/display/sink';
import type { ServerOptions, ToMain, ToServer } from './bridge';
import { exceptionError, internalError, type CellError } from './errors';
import { stopDescendants } from './procs';
import { plainText, resultBundle, wireData } from './richresult';
import { SigintRelay } from './sigint';
import { InputChannel, StdinNotAllowedError } from './stdin';
import type { TypeScriptSession } from './session';
import type { LaunchInfo } from './snapshot';

interface TslabJupyter {
  lastWriteDisplayData:
    | ((data: { data: unknown; metadata: unknown; transient: unknown }, update: boolean) => void)
    | null;
}

/** The sink that writes bundles through tslab's IOPub writer for the running cell. */
export function tslabSink(jupyter: TslabJupyter): DisplaySink {
  return (bundle, { displayId, update }) => {
    const write = jupyter.lastWriteDisplayData;
    if (!write) {
      throw new Error('gradlab kernel: display called before any cell ran (no IOPub writer yet)');
    }
    write(
      {
        data: bundle.data,
        metadata: bundle.metadata ?? {},
        transient: displayId ? { display_id: displayId } : {},
      },
      update,
    );
  };
}

function version(pkg: string, from: string = __dirname): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(require.resolve(pkg, { paths: [from] })) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The kernel_info_reply content: real versions of gradlab, tslab and the TypeScript that checks cells. */
export function kernelInfo(): Record<string, unknown> {
  const gradlab = version(path.resolve(__dirname, '..', '..', 'package.json'));
  const tslab = version('tslab/package.json');
  const typescript = version('@tslab/typescript-for-tslab/package.json', path.dirname(require.resolve('tslab/package.json')));
  return {
    status: 'ok',
    protocol_version: '5.3',
    implementation: 'gradlab',
    implementation_version: gradlab,
    language_info: {
      name: 'typescript',
      version: typescript,
      mimetype: 'text/typescript',
      file_extension: '.ts',
      // name + typescript: classic Notebook's CodeMirror 5; mode: JupyterLab (as tslab sends it).
      codemirror_mode: { name: 'javascript', mode: 'typescript', typescript: true },
      pygments_lexer: 'typescript',
    },
    banner:
      `gradlab ${gradlab}: type-checked TypeScript ${typescript} cells (tslab ${tslab}) on Node ${process.version}\n` +
      "Start with: import * as gl from 'gradlab'; await gl.init();  Help: name? shows a type and its docs.",
    help_links: [
      { text: 'TypeScript handbook', url: 'https://www.typescriptlang.org/docs/handbook/intro.html' },
      { text: 'TensorFlow.js API', url: 'https://js.tensorflow.org/api/latest/' },
      { text: 'tslab', url: 'https://github.com/yunabe/tslab' },
    ],
    debugger: false,
  };
}

/**
 * Where the running cell's output goes: stdout/stderr writes, displays and
 * clears become messages to the server thread, tagged with the request of the
 * latest cell (so output written after a cell finished still reaches it).
 */
class CellOutput {
  rid = 0;
  private installed = false;

  constructor(private readonly post: (m: ToServer) => void) {}

  /** A cell starts: its request gets the output from now on. */
  begin(rid: number): void {
    this.rid = rid;
    if (!this.installed) this.install();
  }

  iopub(msgType: string, content: object): void {
    this.post({ t: 'iopub', rid: this.rid, msgType, content: JSON.stringify(content) });
  }

  /** tslab's display writer signature (`lastWriteDisplayData`). */
  readonly writeDisplay = (d: { data: unknown; metadata: unknown; transient: unknown }, update: boolean): void => {
    this.iopub(update ? 'update_display_data' : 'display_data', {
      data: wireData((d.data ?? {}) as Record<string, unknown>), metadata: d.metadata ?? {}, transient: d.transient ?? {},
    });
  };

  clear(wait: boolean): void {
    this.iopub('clear_output', { wait });
  }

  private install(): void {
    this.installed = true;
    for (const name of ['stdout', 'stderr'] as const) {
      const decoder = new StringDecoder('utf8');
      const stream = process[name];
      stream.write = ((chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
        const text = typeof chunk === 'string' ? chunk : decoder.write(Buffer.from(chunk as Uint8Array));
        if (text) this.post({ t: 'stream', rid: this.rid, name, text });
        const done = typeof encoding === 'function' ? encoding : cb;
        if (typeof done === 'function') process.nextTick(done as () => void);
        return true;
      }) as typeof stream.write;
    }
  }
}

/**
 * Input for the running cell (kernel/stdin.ts): `gl.input`, the global `prompt()`
 * and readline's `question()` on `process.stdin` all ask the front end through the
 * server thread, or fail at once when the request did not allow stdin.
 */
class CellInput {
  rid = 0;
  allow = false;

  constructor(private readonly channel: InputChannel, private readonly post: (m: ToServer) => void) {}

  ask(prompt: string, password = false): string {
    if (!this.allow) {
      throw new StdinNotAllowedError(
        `the cell asked for input (${JSON.stringify(prompt)}), but this front end does not take input: ` +
          'its execute_request says allow_stdin: false (nbconvert, npm start and other unattended runs do). ' +
          "Write the value into the code instead (const answer = '...'), or run the cell in Jupyter.",
      );
    }
    return this.channel.waitFor(() => this.post({ t: 'input', rid: this.rid, prompt, password }));
  }

  install(): void {
    const g = globalThis as Record<string | symbol, unknown>;
    g[INPUT_KEY] = (prompt: string, options: InputOptions) => this.ask(prompt, options.password === true);
    g.prompt = (message?: unknown, defaultValue?: unknown) => {
      const answer = this.ask(message === undefined ? '' : String(message));
      return answer === '' && defaultValue !== undefined ? String(defaultValue) : answer;
    };
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    type Question = (this: { input?: unknown }, query: string, ...rest: unknown[]) => unknown;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const callbacks = (require('readline') as { Interface: { prototype: { question: Question } } }).Interface.prototype;
    const plain = callbacks.question;
    callbacks.question = function (this: { input?: unknown }, query: string, ...rest: unknown[]) {
      if (this.input !== process.stdin) return plain.call(this, query, ...rest);
      const cb = rest.find((r) => typeof r === 'function') as ((answer: string) => void) | undefined;
      const answer = self.ask(String(query));
      if (cb) process.nextTick(cb, answer);
      return undefined;
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const promises = (require('readline/promises') as { Interface: { prototype: { question: Question } } }).Interface.prototype;
    const plainPromise = promises.question;
    promises.question = function (this: { input?: unknown }, query: string, ...rest: unknown[]) {
      if (this.input !== process.stdin) return plainPromise.call(this, query, ...rest);
      try {
        return Promise.resolve(self.ask(String(query)));
      } catch (e) {
        return Promise.reject(e);
      }
    };
  }
}

let syntaxModule: typeof import('./syntax') | undefined;
/** The help-request and is_complete helpers load TypeScript: loaded on first use, not when tests import this file. */
function syntax(): typeof import('./syntax') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (syntaxModule ??= require('./syntax') as typeof import('./syntax'));
}

type Reply = Extract<ToServer, { t: 'reply' }>;

/** Runs the requests the server thread hands over. */
class MainLoop {
  private cacheSaved = false;

  constructor(
    private readonly session: TypeScriptSession,
    private readonly out: CellOutput,
    private readonly jupyter: TslabJupyter,
    private readonly post: (m: ToServer) => void,
    private readonly input: CellInput,
    private readonly sigint: SigintRelay,
    private readonly launch: LaunchInfo,
  ) {}

  async handle(m: Exclude<ToMain, { t: 'exit' }>): Promise<void> {
    let reply: Reply;
    try {
      switch (m.t) {
        case 'execute':
          reply = await this.execute(m);
          break;
        case 'complete':
          reply = { t: 'reply', rid: m.rid, content: this.session.complete(m.code, m.cursorPos) };
          break;
        case 'inspect':
          reply = { t: 'reply', rid: m.rid, content: this.session.inspect(m.code, m.cursorPos) };
          break;
        case 'is_complete':
          reply = { t: 'reply', rid: m.rid, content: { ...syntax().isComplete(m.code) } };
          break;
      }
    } catch (e) {
      reply = { t: 'reply', rid: m.rid, content: { status: 'error', ...exceptionError(e) } };
    }
    try {
      this.post(reply);
    } catch (e) {
      // A reply that cannot cross to the server thread (not cloneable): the request must still end.
      this.post({ t: 'reply', rid: m.rid, content: { status: 'error', ...internalError(e) } });
    }
    // A cell that added a SIGINT listener of its own sends interrupts back to the listener (kernel/sigint.ts).
    if (m.t === 'execute') this.sigint.check();
    if (m.t === 'execute' && !this.cacheSaved) {
      // After the first cell's reply: keep TypeScript's compiled code for the next kernel start.
      this.cacheSaved = true;
      // And build a startup snapshot (kernel/snapshot.ts) in the background when there is none that fits.
      setImmediate(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const converter = require('./converter') as typeof import('./converter');
        converter.saveTypeScriptCache();
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const snapshot = require('./snapshot') as typeof import('./snapshot');
        snapshot.scheduleSnapshotBuild(this.session.declarationFiles());
        // How long this start took, for the next kernel's choice of a start with or without the snapshot.
        const convertedAt = this.session.firstConvertedAt;
        if (convertedAt !== undefined) snapshot.recordKernelStart(convertedAt, converter.typeScriptWasCached(), this.launch);
        // What kernel/launch.sh starts the next kernel from, by the starts measured so far.
        snapshot.writeLaunchFile();
        // TypeScript's folder watchers, held back so that they do not delay the first result.
        this.session.startWatches();
        // Hand SIGINT to the parkers: a cell's run then costs no thread of its own (kernel/sigint.ts).
        void this.sigint.arm();
      });
    }
  }

  private async execute(m: Extract<ToMain, { t: 'execute' }>): Promise<Reply> {
    const { rid, count } = m;
    this.out.begin(rid);
    this.input.rid = rid;
    this.input.allow = m.allowStdin;
    this.jupyter.lastWriteDisplayData = this.out.writeDisplay;
    const ok = (extra: Record<string, unknown> = {}, iopub: Reply['iopub'] = [], output: string | null = null): Reply =>
      ({ t: 'reply', rid, content: { status: 'ok', execution_count: count, payload: [], user_expressions: {}, ...extra }, iopub, output });
    // The error message goes out with the reply (one message between the threads).
    const fail = (err: CellError): Reply => ({
      t: 'reply', rid, content: { status: 'error', execution_count: count, ...err },
      iopub: [{ msgType: 'error', content: JSON.stringify(err) }],
    });

    const help = syntax().helpRequest(m.code);
    if (help) {
      const r = this.session.inspect(help.expr, [...help.expr].length);
      if (!r.found) {
        process.stdout.write(`No type information for \`${help.expr}\`.\n`);
        return ok();
      }
      return ok({ payload: [{ source: 'page', data: r.data, start: 0 }] });
    }

    const r = await this.session.run(m.code, m.count);
    if (r.status === 'error') return fail({ ename: r.ename, evalue: r.evalue, traceback: r.traceback });
    let result: Reply['iopub'] = [];
    let output: string | null = null;
    if (r.hasValue && !m.silent) {
      try {
        const bundle = await resultBundle(r.value);
        const content = { execution_count: count, data: wireData(bundle.data), metadata: bundle.metadata ?? {} };
        result = [{ msgType: 'execute_result', content: JSON.stringify(content) }];
        output = String(bundle.data['text/plain']);
      } catch (e) {
        const err = exceptionError(e);
        return fail({ ...err, evalue: `cannot show the cell's value: ${err.evalue}` });
      }
    }
    const exprs = Object.keys(m.userExpressions).length ? await this.userExpressions(m.userExpressions) : {};
    return ok({ user_expressions: exprs }, result, output);
  }

  /** `user_expressions`: each evaluated after the cell, as text (IPython's behaviour). */
  private async userExpressions(exprs: Record<string, string>): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const [name, expr] of Object.entries(exprs)) {
      const r = await this.session.run(String(expr));
      out[name] = r.status === 'ok'
        ? { status: 'ok', data: { 'text/plain': r.hasValue ? plainText(r.value) : 'undefined' }, metadata: {} }
        : { status: 'error', ename: r.ename, evalue: r.evalue, traceback: r.traceback };
    }
    return out;
  }
}

function parseArgs(argv: string[]): string {
  const i = argv.indexOf('--config-path');
  const configPath = i >= 0 ? argv[i + 1] : undefined;
  if (!configPath) {
    console.error(
      'gradlab kernel: missing --config-path <connection file>.\n' +
        'Jupyter passes it from kernel.json; install the kernel with `npm run kernel:install`.',
    );
    process.exit(2);
  }
  return configPath;
}

function log(line: string): void {
  fs.writeSync(2, `gradlab kernel: ${line}\n`);
}

/** Start the kernel for a connection file. */
export function main(configPath: string): void {
  let session: TypeScriptSession | undefined;
  // How kernel/launch.ts started this process (taken out of the environment the cells see).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const launch = (require('./snapshot') as typeof import('./snapshot')).takeLaunchInfo();
  // First of all: from here on SIGINT interrupts a cell instead of killing the kernel.
  const sigint = new SigintRelay(() => session?.interrupt(), log);
  // How SIGINT reaches cells now ('armed': the relay; 'listener'): for tests and the curious.
  (globalThis as Record<symbol, unknown>)[Symbol.for('gradlab.kernel.sigint')] = () => sigint.mode;

  const channel = new InputChannel();
  const options: ServerOptions = { configPath, kernelInfo: kernelInfo(), parentPid: process.ppid, input: channel.buffer };
  const worker = new Worker(path.join(__dirname, 'server.js'), { workerData: options });
  const post = (m: ToServer) => worker.postMessage(m);
  const out = new CellOutput(post);
  const input = new CellInput(channel, post);
  input.install();
  // tslab's jupyter module loads its converter: load gradlab's patched copy first (kernel/converter.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('./converter') as typeof import('./converter')).converterModule();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jupyter = require('tslab/dist/jupyter') as TslabJupyter;
  const sink: DisplaySink = Object.assign(tslabSink(jupyter), { clear: (wait: boolean) => out.clear(wait) });
  (globalThis as Record<symbol, unknown>)[SINK_KEY] = sink;

  // Errors thrown after a cell finished (timers, unhandled promises) must not end the kernel.
  process.on('uncaughtException', (e) => process.stderr.write(`Uncaught exception: ${inspect(e)}\n`));
  process.on('unhandledRejection', (e) => process.stderr.write(`Unhandled promise rejection: ${inspect(e)}\n`));

  let exiting = false;
  const exit = (code: number, why: string) => {
    if (exiting) return;
    exiting = true;
    if (code) log(why);
    try {
      session?.close();
    } catch {
      // closing the type checker's watchers is best effort
    }
    stopDescendants();
    process.exit(code);
  };
  worker.on('error', (e) => exit(1, `the server thread failed: ${e.stack ?? e}`));
  worker.on('exit', (code) => exit(1, `the server thread stopped (exit code ${code})`));

  // The server thread answers kernel_info while the type checker is built (about 2 s);
  // requests for cells wait in this thread's message queue until then.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { TypeScriptSession: Session } = require('./session') as typeof import('./session');
  session = new Session(process.cwd());
  const loop = new MainLoop(session, out, jupyter, post, input, sigint, launch);
  worker.on('message', (m: ToMain) => {
    if (m.t === 'exit') exit(m.code ?? 0, m.why);
    else void loop.handle(m);
  });
}

/** Start the kernel for a command line (`--config-path <connection file>`), in this process. */
export function start(args: string[]): void {
  main(parseArgs(args));
}

/** What a startup snapshot's main function calls (kernel/snapshot.ts): the kernel in this process, TypeScript already loaded. */
export function startFromSnapshot(args: string[]): void {
  start(args);
}

// What kernel.json runs: from a startup snapshot when one fits (kernel/launch.ts), else here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
if (require.main === module) (require('./launch') as typeof import('./launch')).launch(process.argv.slice(2));
