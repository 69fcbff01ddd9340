/**
 * `npm run gpu-kit`: build a self-contained kit that runs gradlab's WebGPU
 * tasks on a GPU machine with NVIDIA's driver and python3 but no Node, no
 * package registry, and at most 64 MiB copied to it.
 *
 * The kit (default `out/gpu-kit/`, ignored like all of out/):
 *   - `node.xz`: this Node binary (`process.execPath`), xz with the x86 BCJ filter;
 *   - `dawn.node.xz`: Dawn's linux-x64 binary from the npm `webgpu` package, and
 *     `node_modules/webgpu/` with that package's own 3 KB loader (index.js), so
 *     gradlab's webgpu backend loads Dawn unchanged, relative to the kit;
 *   - `gradlab-kit.cjs`: kit/main.ts, gradlab and tfjs (core, cpu, webgpu;
 *     not wasm, not tfjs-node) bundled by esbuild (platform node, cjs);
 *   - `debs/`: the Vulkan and EGL loader packages for amd64 (`apt-get download`);
 *   - `run.sh` (kit/run.sh), `SHA256SUMS`, `SIZES.txt`.
 * The build fails if the kit exceeds 50 MiB. The slow parts (xz of ~100 MB of
 * Node, the debs) are cached in `out/gpu-kit-cache/`, keyed by what went in.
 *
 * Environment: GRADLAB_KIT_OUT, GRADLAB_KIT_CACHE (folders), GRADLAB_KIT_XZ_THREADS
 * (default 1; 0 = every core), GRADLAB_KIT_NO_DEBS=1 (build without the loader
 * debs when the package archive is unreachable).
 *
 * Run it on a GPU machine through the device tool: scripts/gpu-kit-run.sh.
 */
import { execFileSync, spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'fs';
import { join, relative, resolve } from 'path';

/** The loader packages the kit carries (Debian names, amd64). */
export const LOADER_DEBS = ['libvulkan1', 'libegl1', 'libglvnd0', 'libopengl0', 'libgl1', 'libglx0', 'libgles2'];
/** The kit's size budget in bytes (the device tool carries 64 MiB with the repository). */
export const KIT_BUDGET = 50 * 1024 * 1024;

/** Options of {@link buildKit}. */
export interface KitOptions {
  /** Repository root (default: two folders above this file's compiled location). */
  root?: string;
  /** The kit folder, emptied first (default `<root>/out/gpu-kit`). */
  out?: string;
  /** Cache of compressed binaries and debs (default `<root>/out/gpu-kit-cache`). */
  cache?: string;
  /**
   * xz threads for a cold cache (default GRADLAB_KIT_XZ_THREADS or 1; 0 = one per
   * core, faster where cores are free, a slightly larger file).
   */
  xzThreads?: number;
  /** Build without the loader debs (default: from GRADLAB_KIT_NO_DEBS=1). */
  noDebs?: boolean;
  /** Progress lines (default: to stderr). */
  log?: (line: string) => void;
}

/** One file of the kit. */
export interface KitFile {
  path: string;
  bytes: number;
  /** What it is, for SIZES.txt. */
  about: string;
}

/** What {@link buildKit} made. */
export interface KitManifest {
  out: string;
  files: KitFile[];
  totalBytes: number;
  budgetBytes: number;
  node: string;
  debs: string[];
  /** Why the debs are missing, when they are. */
  debsNote: string | null;
}

const MiB = 1024 * 1024;
const mib = (n: number) => `${(n / MiB).toFixed(2)} MiB`;

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * xz-compress `src` into `dst` (preset 9, x86 BCJ filter for executables,
 * `threads` threads), with the xz program or else python3's lzma module (one
 * thread); cached in `cache` under a key of the source's path, size and mtime.
 */
function xzCached(src: string, dst: string, cache: string, threads: number, log: (s: string) => void): void {
  const st = statSync(src);
  const key = createHash('sha256').update(`${resolve(src)}\0${st.size}\0${st.mtimeMs}\0x86-9`).digest('hex').slice(0, 16);
  const cached = join(cache, `${key}.xz`);
  if (!existsSync(cached)) {
    log(`compressing ${src} (${mib(st.size)}) with xz -9 -T${threads}; cached afterwards in ${cache}`);
    const t0 = Date.now();
    const part = `${cached}.part`;
    if (hasCommand('xz')) {
      execFileSync('sh', ['-c', `exec nice -n 10 xz -T${threads}${threads === 1 ? '' : ' --block-size=32MiB'} --x86 --lzma2=preset=9 -c "$1" > "$2"`, 'sh', src, part], { stdio: 'inherit' });
    } else if (hasCommand('python3')) {
      execFileSync('python3', ['-c', [
        'import lzma, shutil, sys',
        'f = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 9}]',
        'with open(sys.argv[1], "rb") as i, lzma.open(sys.argv[2], "wb", filters=f) as o: shutil.copyfileobj(i, o, 1 << 20)',
      ].join('\n'), src, part], { stdio: 'inherit' });
    } else {
      throw new Error(`gpu-kit: cannot compress ${src}: neither xz (Debian: xz-utils) nor python3 is installed`);
    }
    renameSync(part, cached);
    log(`  -> ${mib(statSync(cached).size)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  copyFileSync(cached, dst);
}

/**
 * The loader debs in `cache/debs`, downloaded for amd64 with `apt-get download`
 * (its own package lists in `cache/apt-lists`) when any is missing. Returns
 * their paths; throws saying what failed when the archive cannot be reached.
 */
function loaderDebs(cache: string, log: (s: string) => void): string[] {
  const dir = join(cache, 'debs');
  mkdirSync(dir, { recursive: true });
  const find = () => LOADER_DEBS.map((p) => readdirSync(dir).find((f) => f.startsWith(`${p}_`) && f.endsWith('_amd64.deb')));
  let found = find();
  if (found.some((f) => !f)) {
    const missing = LOADER_DEBS.filter((_, i) => !found[i]);
    log(`fetching ${missing.join(' ')} (amd64) with apt-get download into ${dir}`);
    const lists = join(cache, 'apt-lists');
    mkdirSync(join(lists, 'partial'), { recursive: true });
    mkdirSync(join(cache, 'apt-cache', 'archives', 'partial'), { recursive: true });
    const o = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', `-oDir::State::Lists=${lists}`, `-oDir::Cache=${join(cache, 'apt-cache')}`, '-oDebug::NoLocking=1', '-qq'];
    const run = (args: string[]) => spawnSync('apt-get', [...o, ...args], { cwd: dir, encoding: 'utf8' });
    const upd = hasCommand('apt-get') ? run(['update']) : null;
    const dl = upd && upd.status === 0 ? run(['download', ...missing]) : null;
    found = find();
    if (found.some((f) => !f)) {
      const said = (r: { status: number | null; stderr: string; stdout: string } | null, what: string) =>
        r ? `${what} exited ${r.status}${(r.stderr || r.stdout).trim() ? `: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}` : ''}` : '';
      const why = !upd ? 'apt-get is not installed (the kit needs a Debian/Ubuntu machine to fetch them)' : [said(upd, 'apt-get update'), said(dl, 'apt-get download')].filter(Boolean).join('; ');
      throw new Error(
        `gpu-kit: cannot fetch the Vulkan/EGL loader packages ${LOADER_DEBS.filter((_, i) => !found[i]).join(' ')} from the package archive (is it reachable from here?): ${why}. ` +
          `Put them (amd64 .debs) into ${dir} by hand, or build without them with GRADLAB_KIT_NO_DEBS=1 (the kit then needs libvulkan1 and libegl1 on the GPU machine).`,
      );
    }
  }
  return found.map((f) => join(dir, f!));
}

/** All files under `dir`, recursively, as paths relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}

/** The version in a package's package.json under `root/node_modules`. */
function versionOf(root: string, name: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Build the kit; see the file's header. Throws if a part is missing or the kit is over budget. */
export async function buildKit(options: KitOptions = {}): Promise<KitManifest> {
  const root = resolve(options.root ?? join(__dirname, '..', '..'));
  const out = resolve(options.out ?? process.env.GRADLAB_KIT_OUT ?? join(root, 'out', 'gpu-kit'));
  const cache = resolve(options.cache ?? process.env.GRADLAB_KIT_CACHE ?? join(root, 'out', 'gpu-kit-cache'));
  const noDebs = options.noDebs ?? process.env.GRADLAB_KIT_NO_DEBS === '1';
  const threads = options.xzThreads ?? Number(process.env.GRADLAB_KIT_XZ_THREADS ?? 1);
  const log = options.log ?? ((s: string) => process.stderr.write(`gpu-kit: ${s}\n`));
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`gpu-kit: the kit carries this machine's Node binary, so build it on linux-x64 (this is ${process.platform}-${process.arch})`);
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'node_modules', 'webgpu'), { recursive: true });
  mkdirSync(cache, { recursive: true });
  const about: Record<string, string> = {};

  // Node and Dawn, compressed.
  xzCached(process.execPath, join(out, 'node.xz'), cache, threads, log);
  about['node.xz'] = `Node ${process.version} (${process.execPath}), xz`;
  const webgpu = join(root, 'node_modules', 'webgpu');
  const dawn = join(webgpu, 'dist', 'linux-x64', 'dawn.node');
  if (!existsSync(dawn)) throw new Error(`gpu-kit: Dawn's linux-x64 binary is missing (${dawn}); run \`npm install\` in ${root}`);
  xzCached(dawn, join(out, 'dawn.node.xz'), cache, threads, log);
  about['dawn.node.xz'] = `Dawn (npm webgpu ${versionOf(root, 'webgpu')}, linux-x64), xz; unpacked into node_modules/webgpu/dist/linux-x64/`;
  // The package's own loader, so require.resolve('webgpu') finds it beside the bundle.
  const pkg = JSON.parse(readFileSync(join(webgpu, 'package.json'), 'utf8')) as Record<string, unknown>;
  const slim = { name: pkg.name, version: pkg.version, license: pkg.license, type: pkg.type, main: pkg.main };
  writeFileSync(join(out, 'node_modules', 'webgpu', 'package.json'), JSON.stringify(slim, null, 2) + '\n');
  for (const f of ['index.js', 'LICENSE.md']) copyFileSync(join(webgpu, f), join(out, 'node_modules', 'webgpu', f));
  about['node_modules/webgpu/index.js'] = "the npm webgpu package's loader of dawn.node";

  // One bundle: the kit's entry, gradlab, tfjs core + cpu + webgpu.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const versions: Record<string, string> = { gradlab: (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version };
  for (const n of ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-webgpu', 'webgpu']) versions[n] = versionOf(root, n);
  const kitVersions = join(root, 'kit', 'versions.ts');
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join(root, 'kit', 'main.ts')],
    outfile: join(out, 'gradlab-kit.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    keepNames: true,
    legalComments: 'eof',
    logLevel: 'warning',
    // Never bundled: wasm and tfjs-node are not in the kit (loading them fails
    // with their usual message); webgpu is loaded from the kit's node_modules.
    external: ['webgpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
    define: { GRADLAB_KIT_VERSIONS: JSON.stringify(versions) },
    plugins: [{
      name: 'gradlab-kit-versions',
      setup(b) {
        // src/backend/versions.ts reads package.json files the kit does not have.
        b.onResolve({ filter: /^\.\/versions$/ }, (a) => (/[\\/]src[\\/]backend$/.test(a.resolveDir) ? { path: kitVersions } : undefined));
      },
    }],
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs);
  const banned = inputs.filter((i) => /tfjs-backend-wasm|tfjs-node|[\\/]webgpu[\\/]dist/.test(i));
  if (banned.length) throw new Error(`gpu-kit: the bundle must not contain ${banned.join(', ')}`);
  if (!inputs.some((i) => i.endsWith('kit/versions.ts'))) throw new Error('gpu-kit: the versions substitution did not apply (src/backend/versions.ts moved?)');
  about['gradlab-kit.cjs'] = `kit/main.ts + gradlab + tfjs ${versions['@tensorflow/tfjs']} (core, cpu, webgpu), esbuild, ${inputs.length} modules`;

  // Loader debs.
  let debs: string[] = [];
  let debsNote: string | null = null;
  if (noDebs) {
    debsNote = 'built with GRADLAB_KIT_NO_DEBS=1: no loader debs (the GPU machine needs libvulkan1, libegl1, libglvnd0)';
    log(debsNote);
  } else {
    mkdirSync(join(out, 'debs'));
    for (const d of loaderDebs(cache, log)) {
      const name = d.split('/').pop()!;
      copyFileSync(d, join(out, 'debs', name));
      about[`debs/${name}`] = 'loader library (amd64), unpacked into / by run.sh when no libvulkan is installed';
      debs.push(name);
    }
  }

  copyFileSync(join(root, 'kit', 'run.sh'), join(out, 'run.sh'));
  execFileSync('chmod', ['+x', join(out, 'run.sh')]);
  about['run.sh'] = 'unpack, install loaders, set driver fallbacks, run a task';

  // Checksums, sizes, budget.
  const files = walk(out).sort();
  writeFileSync(join(out, 'SHA256SUMS'), files.map((f) => `${sha256(join(out, f))}  ${f}\n`).join(''));
  const list: KitFile[] = [...files, 'SHA256SUMS'].map((f) => ({ path: f, bytes: statSync(join(out, f)).size, about: about[f] ?? '' }));
  const sizes = (total: number) =>
    [`gradlab GPU kit, built ${new Date().toISOString()} with Node ${process.version}`, '', ...list.map((f) => `${mib(f.bytes).padStart(12)}  ${f.path}${f.about ? `  (${f.about})` : ''}`),
      `${mib(total).padStart(12)}  total (budget ${mib(KIT_BUDGET)})`, ''].join('\n');
  // SIZES.txt lists itself: rewrite it until its own size stops changing.
  const self: KitFile = { path: 'SIZES.txt', bytes: 0, about: 'this breakdown' };
  list.push(self);
  let totalBytes = 0;
  for (let i = 0; i < 5; i++) {
    totalBytes = list.reduce((s, f) => s + f.bytes, 0);
    writeFileSync(join(out, 'SIZES.txt'), sizes(totalBytes));
    const bytes = statSync(join(out, 'SIZES.txt')).size;
    if (bytes === self.bytes) break;
    self.bytes = bytes;
  }
  log(`kit in ${out}:\n${sizes(totalBytes)}`);
  if (totalBytes > KIT_BUDGET) {
    throw new Error(`gpu-kit: the kit is ${mib(totalBytes)}, over its ${mib(KIT_BUDGET)} budget (see ${join(out, 'SIZES.txt')})`);
  }
  return { out, files: list, totalBytes, budgetBytes: KIT_BUDGET, node: process.version, debs, debsNote };
}

if (require.main === module) {
  buildKit().then(
    (m) => process.stdout.write(`${m.out} (${mib(m.totalBytes)})\n`),
    (e) => {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
