/**
 * The GPU kit's entry (bundled into `gradlab-kit.cjs` by scripts/gpu-kit.ts and
 * started by the kit's run.sh): `run.sh <task>... [--key=value]...`, tasks from
 * {@link TASKS} or `all`. Prints one JSON object per task on its own stdout
 * line, `{"task", "ok", "seconds", "result"}` or `{"task", "ok": false,
 * "error"}`; everything else gradlab or tfjs print goes to stderr. Exits 1 if
 * a task failed, 2 on a usage error. Every task runs on the forced `webgpu`
 * backend; a software adapter is refused by measuring tasks unless
 * `--allow-software` or `GRADLAB_KIT_ALLOW_SOFTWARE=1`.
 */
import { appendFileSync } from 'fs';
import { KitContext } from './context';
import { TASKS } from './tasks';

const USAGE = `usage: run.sh <task>... [--allow-software] [--out=file.jsonl] [--key=value]...   (run.sh --list: the task names)
tasks:
${Object.entries(TASKS).map(([k, t]) => `  ${k.padEnd(10)} ${t.about}`).join('\n')}
  all        every task above, in order`;

/** Parse the arguments, run the tasks, print a JSON line each; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const names: string[] = [];
  const options: Record<string, string> = {};
  for (const a of argv) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (m) options[m[1]!] = m[2] ?? '1';
    else names.push(a);
  }
  if (options.list !== undefined) {
    process.stdout.write(Object.keys(TASKS).join('\n') + '\n');
    return 0;
  }
  const chosen = names.flatMap((n) => (n === 'all' ? Object.keys(TASKS) : [n]));
  const unknown = chosen.filter((n) => !TASKS[n]);
  if (options.help !== undefined || chosen.length === 0 || unknown.length) {
    if (unknown.length) console.error(`gpu-kit: unknown task(s) ${unknown.join(', ')}`);
    console.error(USAGE);
    return options.help !== undefined ? 0 : 2;
  }
  // Keep stdout for the JSON lines: route library prints to stderr.
  const print = process.stdout.write.bind(process.stdout);
  console.log = console.info = console.debug = console.error;
  const allow = options['allow-software'] !== undefined || process.env.GRADLAB_KIT_ALLOW_SOFTWARE === '1';
  const ctx = new KitContext(options, allow);
  let failed = 0;
  for (const name of chosen) {
    const t0 = performance.now();
    let line: Record<string, unknown>;
    try {
      const result = await TASKS[name]!.run(ctx);
      line = { task: name, ok: true, seconds: (performance.now() - t0) / 1000, result };
    } catch (e) {
      failed++;
      const err = e as Error & { result?: unknown };
      line = { task: name, ok: false, seconds: (performance.now() - t0) / 1000, error: err.message, ...(err.result ? { result: err.result } : {}) };
    }
    const text = JSON.stringify(line) + '\n';
    print(text);
    if (options.out) appendFileSync(options.out, text);
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`gpu-kit: ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
