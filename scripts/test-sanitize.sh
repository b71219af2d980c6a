#!/usr/bin/env bash
# `npm run test:sanitize`: builds the addon with AddressSanitizer and
# UndefinedBehaviorSanitizer (cmake-js, -DKILN_SANITIZE=ON, into
# build-sanitize/) and runs test suites against it. Any sanitizer report fails
# the run. Usage:
#   scripts/test-sanitize.sh [--no-build] [tap files or folders...]
# Default folders: test/native test/ops test/model test/fuzz test/reliability.
#
# Node is not built with ASan, so the ASan runtime is preloaded into it
# (LD_PRELOAD) and must come before every other library. Leak detection is
# off: Node and V8 keep allocations alive until exit by design, which LSan
# would report as leaks that are not the addon's (the valgrind script looks
# at the addon's own leaks). allocator_may_return_null lets the tests that ask
# for impossible sizes see std::bad_alloc as in a normal build, instead of
# ASan stopping at "allocation-size-too-big".
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
if [[ "${1:-}" == "--no-build" ]]; then
  build=0
  shift
fi
suites=("$@")
if [[ ${#suites[@]} -eq 0 ]]; then
  suites=(test/native test/ops test/model test/fuzz test/reliability)
fi

# The ISAs whose kernels this CPU cannot run, from the addon's own detection
# (native/runtime/cpu_features) in the regular build that npm install made:
# the sanitizer build compiles them at -O0 without instrumentation, only to
# link (see KILN_UNRUNNABLE_ISAS in CMakeLists.txt), since no test here can
# execute them. Without a regular build, every ISA is instrumented.
unrunnable_isas() {
  local detected
  detected=$(KILN_ISA= KILN_ADDON_PATH= node -e "console.log(require('./dist/lib/backend').backend().detectedIsa)" 2>/dev/null) || return 0
  case $detected in
    scalar) echo "avx2;avx512" ;;
    avx2) echo "avx512" ;;
  esac
}

started=$(date +%s)
if [[ $build -eq 1 ]]; then
  unrunnable=$(unrunnable_isas)
  echo "== building the sanitizer addon (cmake-js, KILN_SANITIZE=ON) into build-sanitize/${unrunnable:+ (not instrumented, never run here: $unrunnable)}"
  npx cmake-js compile --out build-sanitize --CDKILN_SANITIZE=ON "--CDKILN_UNRUNNABLE_ISAS=$unrunnable" >build-sanitize.log 2>&1 || {
    tail -40 build-sanitize.log
    exit 1
  }
  echo "sanitizer build took $(($(date +%s) - started)) s"
fi
addon=build-sanitize/Release/kiln.node
[[ -f $addon ]] || { echo "no $addon; run without --no-build"; exit 1; }

asan=$(gcc -print-file-name=libasan.so)
[[ -f $asan ]] || { echo "cannot find the ASan runtime (gcc -print-file-name=libasan.so gave $asan)"; exit 1; }
npx tsc -p tsconfig.json

mkdir -p .tap
log=.tap/sanitize.tap
echo "== tap ${suites[*]} against $addon with $asan preloaded"
run() { # run <isa> <suites...>: one tap pass with the sanitizer environment
  local isa=$1
  shift
  echo "== [$isa] tap $*"
  LD_PRELOAD=$asan \
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:halt_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    KILN_ADDON_PATH=$addon \
    KILN_ISA=$isa \
    KILN_SANITIZER=1 \
    KILN_FUZZ_SCALE=${KILN_FUZZ_SCALE:-0.25} \
    KILN_KILLS=${KILN_KILLS:-5} \
    npx tap --reporter=tap --disable-coverage --allow-empty-coverage --timeout=1200 "$@" >>"$log" 2>&1
}
: >"$log"
best=$(KILN_ADDON_PATH=$addon LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0 node -e "console.log(require('./dist/lib/backend').backend().detectedIsa)")
status=0
run "$best" "${suites[@]}" || status=1
# The kernel suites again on each lower ISA, so every SIMD path runs under
# the sanitizers (only when the default suites were asked for).
if [[ $# -eq 0 && ${KILN_SANITIZE_ALL_ISAS:-1} == 1 ]]; then
  case $best in
    avx512) lower=(avx2 scalar) ;;
    avx2) lower=(scalar) ;;
    *) lower=() ;;
  esac
  for isa in "${lower[@]}"; do run "$isa" test/native test/ops || status=1; done
fi

reports=$(grep -cE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$log" || true)
grep -E '^# \{ total' "$log" || true
echo "sanitizer reports: $reports (full log in $log)"
if [[ $reports -ne 0 ]]; then
  grep -nE -A30 'ERROR: AddressSanitizer|runtime error:' "$log" | head -120
fi
if [[ $status -ne 0 ]]; then
  grep -nE '^\s*not ok' "$log" | head -40
fi
echo "test:sanitize took $(($(date +%s) - started)) s"
[[ $status -eq 0 && $reports -eq 0 ]]
