/**
 * Benchmark results: every figure is a ratio to a reference measured in the
 * same run, because absolute times on shared machines drift.
 */
import * as fs from 'fs';
import * as path from 'path';

/** One figure: `value` in `unit`, and its ratio to `reference` (value / reference value). */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  reference: string;
  ratio: number;
}

/** Median of a list of numbers (the figure benchmarks report). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Print a table and write `out/bench/<suite>.json`. */
export function writeReport(suite: string, results: BenchResult[], outDir = path.resolve(__dirname, '..', '..', 'out', 'bench')): string {
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${suite}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  const w = Math.max(...results.map((r) => r.name.length));
  for (const r of results) {
    console.log(`  ${r.name.padEnd(w)}  ${r.value.toPrecision(4).padStart(10)} ${r.unit.padEnd(8)}  ${r.ratio.toFixed(2).padStart(7)}x ${r.reference}`);
  }
  console.log(`  -> ${path.relative(process.cwd(), file)}`);
  return file;
}
