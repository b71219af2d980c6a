// conv2d GFLOP/s for every conv layer of lenet5, alexnet-s and resnet20
// (WORKLOADS.md) at batch 64: forward, backwardData and backwardFilter, for
// each requested ISA and thread count. Buffers are allocated once per layer
// so the timing is the kernel's (plus one N-API crossing).
import { loadAddon } from '../../lib/native';
import { backend, setIsa, setNumThreads, type Isa } from '../../lib/backend';
import { packConv2DOptions, type Conv2DBindingOptions, type Conv2DNativeOptions } from '../../lib/ops/conv';
import { timeMedian, type BenchContext, type BenchRecord } from './common';

interface ConvAddon {
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, o: Conv2DBindingOptions): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, o: Conv2DBindingOptions): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, o: Conv2DBindingOptions): void;
}

export interface ConvLayer {
  name: string;
  in: [number, number, number];
  outC: number;
  kernel: number;
  stride: number;
  /** [top, bottom, left, right] */
  pad: [number, number, number, number];
  bias: boolean;
  relu: boolean;
}

const p = (n: number): [number, number, number, number] => [n, n, n, n];
// Stride-2 "same" 3x3 on an even size pads only bottom/right (TensorFlow's rule).
const sameStride2: [number, number, number, number] = [0, 1, 0, 1];

export const CONV_LAYERS: ConvLayer[] = [
  { name: 'lenet5/conv1', in: [28, 28, 1], outC: 6, kernel: 5, stride: 1, pad: p(2), bias: true, relu: true },
  { name: 'lenet5/conv2', in: [14, 14, 6], outC: 16, kernel: 5, stride: 1, pad: p(0), bias: true, relu: true },
  { name: 'alexnet-s/conv1', in: [32, 32, 3], outC: 64, kernel: 5, stride: 1, pad: p(2), bias: true, relu: true },
  { name: 'alexnet-s/conv2', in: [15, 15, 64], outC: 192, kernel: 5, stride: 1, pad: p(2), bias: true, relu: true },
  { name: 'alexnet-s/conv3', in: [7, 7, 192], outC: 384, kernel: 3, stride: 1, pad: p(1), bias: true, relu: true },
  { name: 'alexnet-s/conv4', in: [7, 7, 384], outC: 256, kernel: 3, stride: 1, pad: p(1), bias: true, relu: true },
  { name: 'alexnet-s/conv5', in: [7, 7, 256], outC: 256, kernel: 3, stride: 1, pad: p(1), bias: true, relu: true },
  { name: 'resnet20/stem-conv3x3', in: [32, 32, 3], outC: 16, kernel: 3, stride: 1, pad: p(1), bias: false, relu: false },
  { name: 'resnet20/stage1-conv3x3', in: [32, 32, 16], outC: 16, kernel: 3, stride: 1, pad: p(1), bias: false, relu: false },
  { name: 'resnet20/stage2-conv3x3-stride2', in: [32, 32, 16], outC: 32, kernel: 3, stride: 2, pad: sameStride2, bias: false, relu: false },
  { name: 'resnet20/stage2-conv3x3', in: [16, 16, 32], outC: 32, kernel: 3, stride: 1, pad: p(1), bias: false, relu: false },
  { name: 'resnet20/stage2-projection1x1', in: [32, 32, 16], outC: 32, kernel: 1, stride: 2, pad: p(0), bias: false, relu: false },
  { name: 'resnet20/stage3-conv3x3-stride2', in: [16, 16, 32], outC: 64, kernel: 3, stride: 2, pad: sameStride2, bias: false, relu: false },
  { name: 'resnet20/stage3-conv3x3', in: [8, 8, 64], outC: 64, kernel: 3, stride: 1, pad: p(1), bias: false, relu: false },
  { name: 'resnet20/stage3-projection1x1', in: [16, 16, 32], outC: 64, kernel: 1, stride: 2, pad: p(0), bias: false, relu: false },
];

const QUICK_LAYERS = ['lenet5/conv2', 'alexnet-s/conv2', 'resnet20/stage1-conv3x3', 'resnet20/stage3-conv3x3-stride2'];
const PASSES = ['forward', 'backwardData', 'backwardFilter'] as const;

export function runConvBenchmarks(context: BenchContext, batch = 64): BenchRecord[] {
  const addon = loadAddon<ConvAddon>();
  const before = backend();
  const layers = context.quick ? CONV_LAYERS.filter((l) => QUICK_LAYERS.includes(l.name)) : CONV_LAYERS;
  const minSeconds = context.quick ? 0.05 : 0.3;
  const records: BenchRecord[] = [];
  try {
    for (const layer of layers) {
      const [inH, inW, inC] = layer.in;
      const [padTop, padBottom, padLeft, padRight] = layer.pad;
      const o: Conv2DNativeOptions = {
        batch, inH, inW, inC, outC: layer.outC, kernelH: layer.kernel, kernelW: layer.kernel,
        strideH: layer.stride, strideW: layer.stride, padTop, padBottom, padLeft, padRight,
        dilationH: 1, dilationW: 1, relu: layer.relu,
      };
      const outH = Math.floor((inH + padTop + padBottom - layer.kernel) / layer.stride) + 1;
      const outW = Math.floor((inW + padLeft + padRight - layer.kernel) / layer.stride) + 1;
      const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 500 - 1);
      const x = fill(batch * inH * inW * inC);
      const w = fill(layer.kernel * layer.kernel * inC * layer.outC);
      const b = layer.bias ? fill(layer.outC) : null;
      const y = new Float32Array(batch * outH * outW * layer.outC);
      const dy = fill(y.length);
      const dx = new Float32Array(x.length);
      const dw = new Float32Array(w.length);
      const db = new Float32Array(layer.outC);
      const flops = 2 * batch * outH * outW * layer.outC * layer.kernel * layer.kernel * inC;
      // Packed, as the library's eager ops pass them (lib/ops/conv.ts).
      const packed = packConv2DOptions(o);
      const runs = {
        forward: () => addon.conv2dForward(x, w, b, y, packed),
        backwardData: () => addon.conv2dBackwardData(dy, w, dx, packed),
        backwardFilter: () => addon.conv2dBackwardFilter(x, dy, dw, b ? db : null, packed),
      };
      for (const isa of context.isas) {
        setIsa(isa as Isa);
        for (const threads of context.threads) {
          setNumThreads(threads);
          for (const pass of PASSES) {
            // CPU time per call as well: on a shared machine the wall time
            // drifts with the other load, the CPU seconds much less so.
            let calls = 0;
            const cpuStart = process.cpuUsage();
            const seconds = timeMedian(() => { calls++; runs[pass](); }, minSeconds, context.quick ? 2 : 3);
            const cpu = process.cpuUsage(cpuStart);
            const cpuSeconds = (cpu.user + cpu.system) / 1e6 / calls;
            records.push({
              kind: 'conv2d', name: layer.name, pass, threads, isa, gflops: flops / seconds / 1e9, seconds, batch,
              gflopsPerCpuSecond: flops / cpuSeconds / 1e9,
            });
          }
        }
      }
    }
  } finally {
    setIsa(before.isa);
    setNumThreads(before.threads);
  }
  return records;
}
