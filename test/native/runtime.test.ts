import t from 'tap';
import { backend, setIsa, setNumThreads } from '../../lib/backend';

t.test('backend reports the ISA, threads and version', async (t) => {
  const info = backend();
  t.match(info.isa, /^(scalar|avx2|avx512)$/);
  t.match(info.detectedIsa, /^(scalar|avx2|avx512)$/);
  t.ok(info.threads >= 1);
  t.match(info.version, /^\d+\.\d+\.\d+/);
});

t.test('KILN_ISA selects the active ISA', async (t) => {
  const info = backend();
  if (process.env.KILN_ISA) t.equal(info.isa, process.env.KILN_ISA);
  else t.equal(info.isa, info.detectedIsa);
});

t.test('setIsa and setNumThreads validate their arguments', async (t) => {
  const before = backend();
  t.throws(() => setIsa('sse9' as never), /kiln.setIsa: expected one of 'scalar', 'avx2', 'avx512' for 'isa'/);
  t.throws(() => setNumThreads(0), /kiln.setNumThreads: expected an integer in \[1, 256\] for 'threads' but received 0/);
  t.throws(() => setNumThreads(1.5), /received 1.5/);
  setIsa('scalar');
  t.equal(backend().isa, 'scalar');
  setIsa(before.isa);
  setNumThreads(1);
  t.equal(backend().threads, 1);
  setNumThreads(before.threads);
  t.equal(backend().threads, before.threads);
});
