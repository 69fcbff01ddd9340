/**
 * The GPU kit (`npm run gpu-kit`): built once per test run (compressed
 * binaries and debs cached in out/gpu-kit-cache), held to its size budget,
 * copied alone into a temporary folder with no node_modules above it, and
 * run there with its own Node on this machine's software renderer (Mesa
 * llvmpipe through Dawn's OpenGL ES backend), as it would run on a GPU
 * machine. Building needs Debian's archive for the loader debs the first
 * time; when it is unreachable the build's error says so.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { buildKit, KIT_BUDGET, LOADER_DEBS, type KitManifest } from '../scripts/gpu-kit';

interface Line {
  task: string;
  ok: boolean;
  seconds: number;
  error?: string;
  result?: Record<string, unknown>;
}

/** Run `sh run.sh ...args` in `kit` with a bare environment; the JSON lines, stderr and exit code. */
function runKit(kit: string, args: string[], env: Record<string, string> = {}): { lines: Line[]; stderr: string; status: number | null } {
  const r = spawnSync('sh', [join(kit, 'run.sh'), ...args], {
    cwd: kit,
    encoding: 'utf8',
    timeout: 240_000,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: kit, GRADLAB_KIT_LOADERS: 'skip', GRADLAB_KIT_WORK: join(kit, '..', 'work'), ...env },
  });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
  return { lines, stderr: r.stderr, status: r.status };
}

/** The folders from `dir` up to / that hold a node_modules. */
function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let d = join(dir, '..'); ; d = join(d, '..')) {
    if (existsSync(join(d, 'node_modules'))) found.push(d);
    if (d === '/') return found;
  }
}

describe('gpu-kit: a self-contained WebGPU kit for a GPU machine', function () {
  let manifest: KitManifest;
  let tmp: string;
  let kit: string;
  let softwareHere = true;

  before(async function () {
    this.timeout(600_000);
    tmp = mkdtempSync(join(tmpdir(), 'gradlab-kit-'));
    const t0 = Date.now();
    // A cold cache compresses ~120 MB with xz -9: on CI use every core.
    manifest = await buildKit({ out: join(tmp, 'built'), log: () => undefined, ...(process.env.CI ? { xzThreads: 0 } : {}) });
    // Copy only the kit, as the device tool would.
    kit = join(tmp, 'copy', 'gpu-kit');
    cpSync(manifest.out, kit, { recursive: true });
    console.log(`      (kit built in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${(manifest.totalBytes / 2 ** 20).toFixed(2)} MiB)`);
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('holds Node, Dawn, one bundle, the loader debs and run.sh, within 50 MiB', () => {
    const names = manifest.files.map((f) => f.path);
    for (const f of ['node.xz', 'dawn.node.xz', 'gradlab-kit.cjs', 'run.sh', 'SHA256SUMS', 'SIZES.txt', 'node_modules/webgpu/index.js']) {
      assert.ok(names.includes(f), `the kit lacks ${f}; it has ${names.join(', ')}`);
    }
    for (const d of LOADER_DEBS) assert.ok(names.some((n) => n.startsWith(`debs/${d}_`) && n.endsWith('_amd64.deb')), `no ${d} amd64 .deb in the kit`);
    // Only one JavaScript file of gradlab: no tfjs, no wasm, no tfjs-node beside it.
    assert.deepEqual(names.filter((n) => /\.(c?js|mjs|wasm|node)$/.test(n)).sort(), ['gradlab-kit.cjs', 'node_modules/webgpu/index.js']);
    // The sizes on disk, measured independently of the manifest.
    const onDisk = (d: string): number => readdirSync(d, { withFileTypes: true }).reduce((s, e) => s + (e.isDirectory() ? onDisk(join(d, e.name)) : statSync(join(d, e.name)).size), 0);
    assert.equal(onDisk(manifest.out), manifest.totalBytes);
    assert.ok(manifest.totalBytes <= KIT_BUDGET, `kit is ${manifest.totalBytes} bytes, over ${KIT_BUDGET}`);
    assert.equal(KIT_BUDGET, 50 * 2 ** 20);
    assert.match(readFileSync(join(manifest.out, 'SIZES.txt'), 'utf8'), /MiB {2}total \(budget 50\.00 MiB\)/);
    // The bundle carries no wasm backend and no tfjs-node.
    const bundle = readFileSync(join(manifest.out, 'gradlab-kit.cjs'), 'utf8');
    assert.doesNotMatch(bundle, /tfjs-backend-wasm\.wasm|tfjs_binding\.node/);
  });

  it('runs without any node_modules around it', () => {
    assert.deepEqual(nodeModulesAbove(kit), [], `node_modules above the kit copy ${kit}`);
  });

  it('leaves the kit folder as it came (Node and Dawn unpack into a work folder)', function () {
    this.timeout(120_000);
    const before = readdirSync(kit, { recursive: true }).length;
    // Unpack Node and Dawn with python3's lzma, as on a GPU machine without xz
    // (where this machine has python3; else with xz).
    const py = spawnSync('sh', ['-c', "python3 -c 'import lzma'"], { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } }).status === 0;
    const { stderr, status } = runKit(kit, ['--help'], py ? { GRADLAB_KIT_UNXZ: 'python3' } : {});
    assert.equal(status, 0, stderr);
    const tool = py ? "python3's lzma" : 'xz';
    assert.ok(stderr.includes(`unpacked node.xz with ${tool}`) && stderr.includes(`unpacked dawn.node.xz with ${tool}`), stderr);
    assert.equal(readdirSync(kit, { recursive: true }).length, before);
    assert.ok(existsSync(join(tmp, 'copy', 'work', 'node_modules', 'webgpu', 'dist', 'linux-x64', 'dawn.node')));
  });

  it('facts: the kit\'s own Node loads Dawn and gradlab\'s webgpu backend, and the adapter is described', function () {
    this.timeout(300_000);
    const root = join(tmp, 'loader-root');
    // Unpack the loader debs into a side folder (not /): they must hold the loaders.
    const env = { GRADLAB_KIT_ALLOW_SOFTWARE: '1', GRADLAB_KIT_LOADERS: 'force', GRADLAB_KIT_LOADER_ROOT: root };
    const { lines, stderr, status } = runKit(kit, ['facts'], env);
    assert.equal(status, 0, stderr);
    assert.equal(lines.length, 1, stderr);
    const [line] = lines as [Line];
    assert.ok(line.ok, line.error);
    const r = line.result!;
    assert.equal(r.node, process.version);
    assert.equal(r.execPath, join(tmp, 'copy', 'work', 'bin', 'node'), 'the kit must run with its own Node');
    assert.equal(r.dawn, 'loaded');
    const backend = r.backend as { name: string; device: string; software: boolean; versions: Record<string, string> };
    assert.equal(backend.name, 'webgpu');
    assert.match(backend.device, /\w/);
    const installed = (name: string) => (JSON.parse(readFileSync(join(__dirname, '..', '..', 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(backend.versions['@tensorflow/tfjs-backend-webgpu'], installed('@tensorflow/tfjs-backend-webgpu'));
    assert.equal(backend.versions.webgpu, installed('webgpu'));
    const gles = (r.adapters as Record<string, Record<string, unknown> | null>).opengles;
    assert.ok(gles && typeof gles.description === 'string', 'the OpenGL ES adapter is described');
    assert.equal(typeof (gles.limits as Record<string, number>).maxStorageBufferBindingSize, 'number');
    assert.equal(typeof gles.timestampQuery, 'boolean');
    softwareHere = backend.software;
    assert.ok(Array.isArray(r.missing));
    if (!(r.loaders as { vulkan: string[] }).vulkan.length) assert.ok((r.missing as string[]).some((m) => m.startsWith('Vulkan loader')));
    // The debs unpacked into the side root hold the Vulkan and EGL loaders.
    const lib = join(root, 'usr', 'lib', 'x86_64-linux-gnu');
    for (const so of ['libvulkan.so.1', 'libEGL.so.1', 'libGLESv2.so.2']) assert.ok(existsSync(join(lib, so)), `${so} not in the unpacked debs (${lib})`);
  });

  it('mlp: the autograd MLP step trains on webgpu, matches cpu, and is timed', function () {
    this.timeout(300_000);
    const { lines, stderr, status } = runKit(kit, ['mlp', '--warmup=1', '--steps=4'], { GRADLAB_KIT_ALLOW_SOFTWARE: '1' });
    assert.equal(status, 0, stderr);
    const [line] = lines as [Line];
    assert.ok(line.ok, line.error);
    const r = line.result as { backend: string; weightsOn: string; msPerStep: number; firstLoss: number; lastLoss: number; maxRelDiff: number; checks: Record<string, boolean>; timesMs: number[] };
    assert.equal(r.backend, 'webgpu');
    assert.equal(r.weightsOn, 'webgpu');
    assert.equal(r.timesMs.length, 4);
    assert.ok(r.msPerStep > 0);
    assert.ok(r.lastLoss < r.firstLoss, `loss ${r.firstLoss} -> ${r.lastLoss}`);
    // ln(10) at initialisation: 10 classes, small logits.
    assert.ok(Math.abs(r.firstLoss - Math.log(10)) < 0.1, `first loss ${r.firstLoss}`);
    assert.ok(r.maxRelDiff <= 1e-3);
    assert.deepEqual(r.checks, { onWebgpu: true, matchesCpu: true, lossFalls: true, finite: true });
  });

  it('probes: the raw WGSL copy, STREAM, matmul, roofline, launch and fusion probes run from the bundle', function () {
    this.timeout(300_000);
    const { lines, stderr, status } = runKit(kit, ['probes', '--max-mib=1', '--max-n=128', '--repeats=2'], { GRADLAB_KIT_ALLOW_SOFTWARE: '1' });
    assert.equal(status, 0, stderr);
    const [line] = lines as [Line];
    assert.ok(line.ok, line.error);
    const r = line.result as {
      backend: string;
      rawCopy: { bestGBs: number; fractionOfDatasheet: Record<string, number>; rows: { bytes: number; verified: boolean | null }[] };
      stream: { kernel: string; bytes: number; gbps: number }[];
      matmul: { maxGflops: number; rows: unknown[] };
      ceilings: { ridge: number };
      roofline: { bound: string }[];
      launch: { t0Us: number };
      fusion: { n: number; speedup: number; maxAbsDiff: number | null }[];
    };
    assert.equal(r.backend, 'webgpu');
    assert.ok(r.rawCopy.bestGBs > 0 && r.rawCopy.rows.length > 0);
    assert.ok(r.rawCopy.rows.every((row) => row.verified !== false && row.bytes <= 2 ** 20), JSON.stringify(r.rawCopy.rows));
    // The fraction is the best GB/s over the datasheet figure (H200: 4800 GB/s).
    assert.ok(Math.abs(r.rawCopy.fractionOfDatasheet['H200 SXM']! - Math.round((r.rawCopy.bestGBs / 4800) * 1000) / 1000) <= 0.001, JSON.stringify(r.rawCopy.fractionOfDatasheet));
    assert.deepEqual([...new Set(r.stream.map((s) => s.kernel))].sort(), ['copy', 'triad']);
    assert.ok(r.stream.every((s) => s.gbps > 0 && s.bytes <= 2 ** 20));
    assert.ok(r.matmul.maxGflops > 0 && r.matmul.rows.length > 0 && r.ceilings.ridge > 0);
    assert.ok(r.roofline.length > 0 && r.roofline.every((p) => p.bound === 'memory' || p.bound === 'compute'));
    assert.ok(r.launch.t0Us > 0);
    assert.ok(r.fusion.length > 0 && r.fusion.some((f) => f.maxAbsDiff !== null));
  });

  it('precision: the mixed-precision experiment runs from the bundle in all four modes', function () {
    this.timeout(300_000);
    const { lines, stderr, status } = runKit(kit, ['precision', '--steps=4', '--batch=32', '--width=16', '--growth=2'], { GRADLAB_KIT_ALLOW_SOFTWARE: '1' });
    assert.equal(status, 0, stderr);
    const [line] = lines as [Line];
    assert.ok(line.ok, line.error);
    type Mode = { firstLoss: number; finalLoss: number; skipped: number[]; scale: { first: number; last: number; changes: [number, number][] }; underflowFrac: number; msPerStep: number };
    const r = line.result as { backend: string; steps: number; histogram: { weights: { belowSubnormal: number }; activations: { belowSubnormal: number } }; modes: Record<string, Mode>; emulatedFp16OverFp32: number };
    assert.equal(r.backend, 'webgpu');
    assert.equal(r.steps, 4);
    assert.deepEqual(Object.keys(r.modes), ['fp32', 'fp16', 'fp16-scaled', 'bf16']);
    // Same initial weights and first batch in every mode.
    const first = r.modes.fp32!.firstLoss;
    for (const m of Object.values(r.modes)) assert.ok(Math.abs(m.firstLoss - first) < 0.05 && m.msPerStep > 0, JSON.stringify(m));
    assert.equal(r.modes.fp32!.underflowFrac, 0);
    // lossFactor 2^-16 puts gradients below 2^-24: fp16 without scaling loses more than with it.
    assert.ok(r.histogram.weights.belowSubnormal > 0);
    assert.ok(r.modes.fp16!.underflowFrac > r.modes['fp16-scaled']!.underflowFrac, JSON.stringify(r.modes));
    const scaled = r.modes['fp16-scaled']!;
    assert.equal(scaled.scale.first, 65536);
    // growth interval 2, no overflow at these sizes: the scale doubles after steps 1 and 3 (seen at steps 2 and 4; 4 is past the run).
    if (scaled.skipped.length === 0) assert.deepEqual(scaled.scale.changes, [[2, 131072]]);
    assert.ok(r.emulatedFp16OverFp32 > 0);
  });

  it('refuses to time a software adapter unless allowed, and rejects unknown tasks', function () {
    this.timeout(120_000);
    if (softwareHere) {
      const { lines, status } = runKit(kit, ['mlp']);
      assert.equal(status, 1);
      assert.equal(lines[0]!.ok, false);
      assert.match(lines[0]!.error!, /only a software adapter loaded .*GRADLAB_KIT_ALLOW_SOFTWARE=1/);
    }
    const bad = runKit(kit, ['nonsense']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown task\(s\) nonsense[\s\S]*facts[\s\S]*mlp[\s\S]*all/);
  });

  it('auto leaves / alone on a machine without an NVIDIA driver', function () {
    this.timeout(120_000);
    if (existsSync('/proc/driver/nvidia/version') || existsSync('/usr/local/nvidia')) this.skip();
    const vulkanHere = spawnSync('sh', ['-c', 'ldconfig -p | grep -q libvulkan.so.1']).status === 0;
    const { stderr, status } = runKit(kit, ['nonsense'], { GRADLAB_KIT_LOADERS: 'auto' });
    assert.equal(status, 2);
    if (!vulkanHere) assert.match(stderr, /no NVIDIA driver either: not installing/);
    assert.doesNotMatch(stderr, /installed the Vulkan\/EGL loaders/);
  });

  it('says when a file arrived damaged', function () {
    this.timeout(60_000);
    const copy = join(tmp, 'damaged');
    cpSync(manifest.out, copy, { recursive: true });
    writeFileSync(join(copy, 'gradlab-kit.cjs'), 'truncated');
    const { status, stderr } = runKit(copy, ['facts']);
    assert.equal(status, 3);
    assert.match(stderr, /damaged or missing/);
  });
});
