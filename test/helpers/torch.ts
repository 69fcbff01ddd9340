/**
 * Running PyTorch reference scripts from the tests: inputs go to Python as JSON,
 * the script sets OUTPUT, and the JSON comes back. Starting Python and importing
 * torch takes 1-2 s, so a suite batches all its cases into one run.
 *
 * PyTorch is Debian's python3-torch, run with /usr/bin/python3. When it is
 * absent, tests skip with the reason, except under CI=true (CI installs it),
 * where they fail.
 */
import { spawnSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';

/** The Python that has Debian's python3-torch. */
export const PYTHON = process.env.GRADLAB_PYTHON ?? '/usr/bin/python3';

const NO_TORCH_EXIT = 3;

/**
 * Prepended to every script. Gives it INPUT (the JSON input), `t(spec)` to make a
 * tensor from `{values, shape, dtype}`, `flat(t)` to return a tensor as a flat
 * list (non-finite values as the strings 'nan', 'inf', '-inf'), and `F`.
 */
const PREAMBLE = `
import json, math, sys
try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print("PyTorch is not importable by " + sys.executable + ": " + str(e), file=sys.stderr)
    sys.exit(${NO_TORCH_EXIT})
torch.set_default_dtype(torch.float64)
with open(sys.argv[1]) as f:
    INPUT = json.load(f)
DTYPES = {"float32": torch.float64, "int32": torch.long, "bool": torch.bool}
def t(spec, requires_grad=False):
    x = torch.tensor(spec["values"], dtype=DTYPES[spec.get("dtype", "float32")]).reshape(spec["shape"])
    return x.requires_grad_(requires_grad and x.is_floating_point())
def flat(x):
    return [v if math.isfinite(v) else str(v) for v in x.detach().double().reshape(-1).tolist()]
OUTPUT = None
`;

const POSTAMBLE = `
with open(sys.argv[2], "w") as f:
    json.dump(OUTPUT, f)
`;

/** A finished run: the script's OUTPUT, or why PyTorch could not run here. */
export type TorchRun<T> = { ok: true; output: T; version: string } | { ok: false; reason: string };

/**
 * Run `script` (Python; reads INPUT, assigns OUTPUT) with `input` as INPUT.
 * Returns `{ ok: false, reason }` when Python or torch is missing; throws when
 * the script itself fails (a bug to fix, not a reason to skip).
 */
export function runTorch<T>(script: string, input: unknown, timeoutMs = 120_000): TorchRun<T> {
  const dir = mkdtempSync(join(tmpdir(), 'gradlab-torch-'));
  try {
    const [src, inp, out] = ['script.py', 'input.json', 'output.json'].map((f) => join(dir, f)) as [string, string, string];
    writeFileSync(src, `${PREAMBLE}\n${script}\nOUTPUT = {"version": torch.__version__, "output": OUTPUT}\n${POSTAMBLE}`);
    writeFileSync(inp, JSON.stringify(input));
    const r = spawnSync(PYTHON, [src, inp, out], { encoding: 'utf8', timeout: timeoutMs });
    if (r.error) {
      const code = (r.error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ok: false, reason: `${PYTHON} not found (install python3 and python3-torch)` };
      throw r.error;
    }
    if (r.status === NO_TORCH_EXIT) return { ok: false, reason: `${r.stderr.trim()} (install Debian's python3-torch)` };
    if (r.status !== 0) throw new Error(`PyTorch reference script failed (exit ${r.status}):\n${r.stderr}`);
    const res = JSON.parse(readFileSync(out, 'utf8')) as { version: string; output: T };
    return { ok: true, output: res.output, version: res.version };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const warned = new Set<string>();

/**
 * In a test: skip it (with the reason, printed once) when PyTorch did not run,
 * or fail under CI=true, where PyTorch must be present.
 */
export function needTorch<T>(ctx: Mocha.Context, run: TorchRun<T> | undefined): T {
  if (run === undefined) throw new Error('the PyTorch reference run did not happen (see the before hook)');
  if (run.ok) return run.output;
  if (process.env.CI === 'true') throw new Error(`PyTorch is required when CI=true: ${run.reason}`);
  if (!warned.has(run.reason)) {
    warned.add(run.reason);
    console.warn(`    skipping PyTorch comparisons: ${run.reason}`);
  }
  ctx.skip();
}

/** Decode `flat()`'s output: numbers, with 'nan' / 'inf' / '-inf' strings as NaN / ±Infinity. */
export function decode(values: readonly (number | string)[]): number[] {
  return values.map((v) => (typeof v === 'number' ? v : v === 'nan' ? NaN : v === 'inf' ? Infinity : -Infinity));
}
