{
  # Sources come from scripts/native-sources.js, which CMakeLists.txt reads too.
  # Each ISA's kernels build in their own static library with their own target
  # flags; the addon picks among them at run time (native/runtime/cpu_features).
  # No -march=native and no -ffast-math: the binary must run on any x86-64 CPU
  # and give IEEE results.
  "variables": {
    "kiln_common_flags": ["-O3", "-std=c++17", "-fPIC", "-Wall", "-Wextra", "-Wno-unused-parameter"]
  },
  "targets": [
    {
      # -falign-loops=64 (AVX2 and AVX-512): the kernels' hot loops start on
      # a cache line. Left to chance, an unrelated edit moved lenet5 conv2's
      # AVX2 correlation loop across a line boundary and cost it 10-15% on
      # Zen 3 (separate processes, alternating); aligned, it ran ~5% above
      # its old speed. The AVX-512 kernels share their loops' source with the
      # AVX2 ones (conv2d_direct_tiles.h) and get the same placement.
      "target_name": "kiln_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node scripts/native-sources.js avx2)"],
          "cflags_cc": ["<@(kiln_common_flags)", "-mavx2", "-mfma", "-falign-loops=64"]
        }]
      ],
      "cflags_cc!": ["-fno-exceptions"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-mavx2", "-mfma"] }
    },
    {
      "target_name": "kiln_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node scripts/native-sources.js avx512)"],
          "cflags_cc": ["<@(kiln_common_flags)", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma", "-falign-loops=64"]
        }]
      ],
      "cflags_cc!": ["-fno-exceptions"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma"] }
    },
    {
      "target_name": "kiln",
      "sources": ["<!@(node scripts/native-sources.js common)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
        "kiln_avx2",
        "kiln_avx512"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["<@(kiln_common_flags)"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17"]
      }
    }
  ]
}
