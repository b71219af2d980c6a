#!/usr/bin/env bash
# `npm run valgrind:train`: a short lenet5 training job (compile, a few
# training steps, predict, save, load) under valgrind memcheck. Reports
# invalid reads/writes (must be 0) and the definite leaks whose stacks pass
# through the addon (kiln.node; must be 0). Not part of CI: it takes minutes.
#   scripts/valgrind-train.sh [steps]      (default 4)
# Uses build/Release/kiln.node (npx node-gyp rebuild) and dist/ (npx tsc).
#
# Node runs with --jitless: V8's JIT writes and patches machine code, which
# valgrind must re-translate (slow) and may misread; the interpreter makes the
# same addon calls. Uninitialised-value tracking stays on (set
# KILN_VALGRIND_UNDEF=--undef-value-errors=no to skip it). scripts/valgrind.supp
# holds the suppressions for Node itself (none needed with Node 20 --jitless).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-4}
addon=${KILN_ADDON_PATH:-build/Release/kiln.node}
[[ -f $addon ]] || { echo "no $addon: run npx node-gyp rebuild"; exit 1; }
[[ -f dist/lib/index.js ]] || npx tsc -p tsconfig.json
mkdir -p .tap
log=.tap/valgrind-train.log
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

started=$(date +%s)
KILN_ADDON_PATH=$addon KILN_STEPS=$steps KILN_WORK=$work valgrind \
  --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  ${KILN_VALGRIND_UNDEF:---undef-value-errors=yes} --num-callers=30 --suppressions=scripts/valgrind.supp \
  --log-file="$log" \
  node --jitless -e "
    const kiln = require('./dist/lib');
    (async () => {
      kiln.setNumThreads(2);
      const steps = Number(process.env.KILN_STEPS);
      const m = kiln.lenet5({ seed: 1 });
      m.compile({ optimizer: kiln.adam({ learningRate: 1e-3 }), loss: 'softmaxCrossEntropy' });
      const x = new kiln.Tensor(Float32Array.from({ length: 8 * 784 }, (_, i) => (i % 17) / 17), [8, 28, 28, 1]);
      const y = Int32Array.from({ length: 8 }, (_, i) => i % 10);
      for (let i = 0; i < steps; i++) console.log('step', i, (await m.trainOnBatch(x, y)).loss.toFixed(4));
      await m.fit({ x, y }, { epochs: 1, batchSize: 4, verbose: 0 });
      const p = await m.predict(x);
      await m.save(process.env.KILN_WORK + '/m');
      const back = await kiln.loadModel(process.env.KILN_WORK + '/m');
      const q = await back.predict(x);
      console.log('reload identical:', p.data.every((v, i) => v === q.data[i]));
    })().catch((e) => { console.error(e); process.exit(1); });
  "
status=$?

invalid=$(grep -cE 'Invalid (read|write)' "$log" || true)
errors=$(grep -E 'ERROR SUMMARY' "$log" | tail -1)
definite=$(grep -E 'definitely lost:' "$log" | tail -1 || true)
# Definite-leak records whose stack passes through the addon.
addonLeaks=$(awk '/definitely lost in loss record/ {block=1; text=""} block {text = text $0 "\n"} /^==[0-9]+== $/ && block {if (text ~ /kiln\.node/) n++; block=0} END {print n+0}' "$log")
echo "valgrind memcheck of ${steps} lenet5 steps + fit + predict + save/load: exit $status, $(($(date +%s) - started)) s"
echo "  invalid reads/writes: $invalid"
echo "  ${errors#==*== }"
echo "  ${definite#==*== }"
echo "  definite leaks through kiln.node: $addonLeaks"
echo "  full log: $log"
[[ $status -eq 0 && $invalid -eq 0 && $addonLeaks -eq 0 ]]
