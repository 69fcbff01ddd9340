#!/usr/bin/env node
/**
 * `npx gradlab-run --nproc-per-node N script.js [args]`: start N ranks of
 * `script.js` with torchrun's environment (a free MASTER_PORT unless set),
 * prefix their output with `[rank k]`, stop all when one fails and exit
 * non-zero naming it. Introduced in notebooks/04-distributed.
 */
import { launch } from './launch';

const USAGE = 'usage: gradlab-run --nproc-per-node N [--master-port P] script.js [args...]';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let nproc = 1;
  let masterPort: number | undefined;
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('--'); i++) {
    const [k, inline] = argv[i].split('=');
    const v = inline ?? argv[++i];
    if (k === '--nproc-per-node' || k === '--nproc_per_node') nproc = Number(v);
    else if (k === '--master-port' || k === '--master_port') masterPort = Number(v);
    else throw new Error(`unknown option ${k}; ${USAGE}`);
  }
  const script = argv[i];
  if (!script || !Number.isInteger(nproc) || nproc < 1) throw new Error(USAGE);
  if (/\.[cm]?ts$/.test(script)) throw new Error(`${script} is TypeScript: compile it first (tsc) and run the .js file; gradlab-run runs JavaScript`);
  const r = await launch({ nproc, script, args: argv.slice(i + 1), masterPort });
  if (r.failedRank >= 0) {
    process.stderr.write(`gradlab-run: ${r.message}\n`);
    process.exit(1);
  }
}

main().catch((e) => {
  process.stderr.write(`gradlab-run: ${(e as Error).message}\n`);
  process.exit(2);
});
