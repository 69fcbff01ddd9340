/**
 * Finding the Python that has Jupyter. The kernelspec is registered with
 * that Python's `jupyter kernelspec install`, so it lands where that Jupyter
 * (pip, conda, JupyterLab, or Debian's packages) looks for kernels.
 */
import { spawnSync } from 'child_process';

/** What we learned about one Python interpreter. */
export interface PythonProbe {
  python: string;
  /** sys.executable, or null when it does not run. */
  executable: string | null;
  version: string | null;
  /** jupyter_client importable: `jupyter kernelspec install` will work. */
  hasJupyter: boolean;
  /** Which front ends it can start. */
  jupyterlab: boolean;
  notebook: boolean;
}

const PROBE = `
import sys, json, importlib.util as u
print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0],
  "hasJupyter": u.find_spec("jupyter_client") is not None,
  "jupyterlab": u.find_spec("jupyterlab") is not None,
  "notebook": u.find_spec("notebook") is not None}))
`;

/** Ask `python` what it is and what Jupyter parts it has. */
export function probePython(python: string): PythonProbe {
  const r = spawnSync(python, ['-c', PROBE], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0 || !r.stdout) {
    return { python, executable: null, version: null, hasJupyter: false, jupyterlab: false, notebook: false };
  }
  return { python, ...(JSON.parse(r.stdout.trim()) as Omit<PythonProbe, 'python'>) };
}

/** Pythons worth trying, in order: the one asked for, python3 on PATH, the system one, conda's. */
export function candidatePythons(asked?: string): string[] {
  const list = [asked, process.env.GRADLAB_PYTHON, 'python3', 'python', '/usr/bin/python3'];
  if (process.env.CONDA_PREFIX) list.push(`${process.env.CONDA_PREFIX}/bin/python`);
  return [...new Set(list.filter((p): p is string => Boolean(p)))];
}

/**
 * The Python to register the kernel with. With `asked`, only that one counts;
 * otherwise the first candidate that has Jupyter. Throws a message that says
 * what was found and names the fix (`--python`).
 */
export function findJupyterPython(asked?: string): PythonProbe {
  if (asked) {
    const p = probePython(asked);
    if (p.hasJupyter) return p;
    const other = candidatePythons().filter((c) => c !== asked).map(probePython).find((c) => c.hasJupyter);
    const hint = other ? ` This one has Jupyter: --python=${other.executable}` : '';
    throw new Error(
      (p.executable
        ? `${asked} (${p.executable}, Python ${p.version}) has no Jupyter: jupyter_client is not importable.\n` +
          `Install Jupyter for it (\`${asked} -m pip install jupyterlab\`), or name another Python with --python=/path/to/python3.`
        : `--python=${asked}: this Python does not run. Name a Python that has Jupyter with --python=/path/to/python3.`) +
        hint +
        '\nWithout Jupyter, `npm start` still runs every notebook with Node alone and writes HTML to out/.',
    );
  }
  const probes = candidatePythons().map(probePython);
  const found = probes.find((p) => p.hasJupyter);
  if (found) return found;
  const seen = probes
    .filter((p) => p.executable)
    .map((p) => `  ${p.python} -> ${p.executable} (Python ${p.version}): no Jupyter`)
    .join('\n');
  throw new Error(
    `No Python with Jupyter was found.\n${seen || '  (no Python runs here)'}\n` +
      'Install Jupyter (`python3 -m pip install jupyterlab`, `conda install jupyterlab`, or on Debian/Ubuntu ' +
      '`sudo apt-get install jupyter-notebook`), or name the Python that has it: ' +
      '`npm run kernel:install -- --python=/path/to/python3`.\n' +
      'Without Jupyter, `npm start` still runs every notebook with Node alone and writes HTML to out/.',
  );
}
