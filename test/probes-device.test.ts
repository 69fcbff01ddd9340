/**
 * probes.deviceFacts: the nvidia-smi and /proc/cpuinfo parsers on canned text
 * (x86 and Arm), their errors, and the live call on this machine.
 */
import { strict as assert } from 'assert';
import * as os from 'os';
import { tf } from '../src/backend/tf';
import { describeDevice, deviceFacts, parseCpuinfo, parseNvidiaSmi } from '../src/probes';
import { suiteBackends, useBackend, webgpuSuite } from './helpers/backend';

const X86 = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu vme sse sse2 sse4_1 sse4_2 avx f16c fma avx2 avx512f avx512bw avx512vl avx512_bf16

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu vme sse sse2 sse4_1 sse4_2 avx f16c fma avx2 avx512f avx512bw avx512vl avx512_bf16
`;

const ARM = `processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm sve
CPU implementer\t: 0x41
CPU part\t: 0xd40

processor\t: 1
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm sve
CPU part\t: 0xd40
`;

describe('probes.deviceFacts parsers', () => {
  it('parses nvidia-smi csv lines, one GPU per line', () => {
    const gpus = parseNvidiaSmi('NVIDIA H200, 143771 MiB, 550.90.07\nNVIDIA A100-SXM4-80GB, 81920 MiB, 535.104.05\n');
    assert.deepEqual(gpus, [
      { name: 'NVIDIA H200', memoryMiB: 143771, driver: '550.90.07' },
      { name: 'NVIDIA A100-SXM4-80GB', memoryMiB: 81920, driver: '535.104.05' },
    ]);
    assert.deepEqual(parseNvidiaSmi(''), []);
    assert.throws(() => parseNvidiaSmi('NVIDIA H200, [N/A], 550'), /memory.total '\[N\/A\]' is not "<number> MiB"/);
    assert.throws(() => parseNvidiaSmi('just a name'), /expected "name, memory.total, driver_version"/);
  });

  it('parses /proc/cpuinfo on x86 and Arm', () => {
    assert.deepEqual(parseCpuinfo(X86), { model: 'AMD EPYC 9654 96-Core Processor', cores: 2, simd: ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_bf16'] });
    assert.deepEqual(parseCpuinfo(ARM), { model: 'Arm CPU part 0xd40', cores: 2, simd: ['asimd', 'asimdhp', 'sve'] });
    assert.deepEqual(parseCpuinfo(''), { model: 'unknown CPU', cores: 0, simd: [] });
  });

  it('describes a GPU machine by its GPU and a CPU machine by its CPU', () => {
    const cpu = { model: 'X', cores: 2, simd: ['avx2'] };
    assert.equal(describeDevice({ backend: 'wasm', gpus: [], adapter: null, cpu, memoryBytes: 2 ** 31 }), 'X, 2 cores (avx2), 2.0 GiB | backend wasm');
    assert.equal(
      describeDevice({ backend: 'webgpu', gpus: [{ name: 'NVIDIA H200', memoryMiB: 143771, driver: '550.90.07' }], adapter: { vendor: 'nvidia', architecture: 'hopper', device: '', description: '', software: false }, cpu, memoryBytes: 1 }),
      'NVIDIA H200, 143771 MiB, driver 550.90.07 | adapter nvidia / hopper | backend webgpu',
    );
  });
});

for (const backend of suiteBackends(['wasm'])) {
  describe(`probes.deviceFacts live on ${backend}`, function () {
    this.timeout(120_000);
    before(() => useBackend(backend));

    it('returns sane facts about this machine', () => {
      const f = deviceFacts();
      assert.equal(f.backend, tf.getBackend());
      assert.ok(f.cpu.cores >= 1 && f.cpu.model.length > 0);
      assert.equal(f.memoryBytes, os.totalmem());
      for (const g of f.gpus) assert.ok(g.name && g.memoryMiB > 0 && g.driver);
      assert.ok(f.description.endsWith(`backend ${backend}`), f.description);
      if (backend === 'webgpu') {
        assert.ok(f.adapter, 'no adapter facts on webgpu');
        assert.ok(f.adapter.device || f.adapter.description || f.adapter.vendor, 'adapter facts are all empty');
        assert.match(f.description, /adapter /);
      } else {
        assert.equal(f.adapter, null);
      }
    });
  });
}

webgpuSuite(__filename, 'probes.deviceFacts');
