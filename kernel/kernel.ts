/**
 * The gradlab Jupyter kernel: tslab's TypeScript kernel (type-checked cells,
 * completion, inspection) plus a display sink that sends whole MIME bundles.
 *
 * tslab's public `display.raw` sends one MIME type per message, which would
 * split a chart into several outputs. tslab keeps the function that writes
 * `display_data` for the running cell in `tslab/dist/jupyter`'s
 * `lastWriteDisplayData`; the sink registered here calls it with a complete
 * bundle, so a Vega-Lite chart is ONE output carrying its spec, its SVG and
 * its text. The library finds the sink under `Symbol.for('gradlab.display.sink')`
 * (see src/display/sink.ts) and never imports the kernel.
 *
 * Usage (what kernel.json runs): node dist/kernel/kernel.js --config-path <connection file>
 */
import { SINK_KEY, type DisplaySink } from '../src/display/sink';

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

if (require.main === module) {
  const configPath = parseArgs(process.argv.slice(2));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const jupyter = require('tslab/dist/jupyter') as TslabJupyter;
  (globalThis as Record<symbol, unknown>)[SINK_KEY] = tslabSink(jupyter);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startKernel } = require('tslab/dist/main') as {
    startKernel(o: { configPath: string; enableFindLocal: boolean }): void;
  };
  startKernel({ configPath, enableFindLocal: false });
  // Exit with the process that started us (Jupyter, or gradlab's runner): a
  // kernel whose parent was killed must not linger. tslab does not watch this.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}
