#!/usr/bin/env node
// The one list of native sources, read by both builds: binding.gyp (node-gyp)
// and CMakeLists.txt (cmake-js) call this script, so they cannot drift apart.
//
// A file's group comes from its name: *_avx512.cpp and *_avx2.cpp hold one
// ISA's kernels and are compiled with that ISA's target flags in their own
// library; every other .cpp under native/ is portable code.
//
//   node scripts/native-sources.js common|avx2|avx512 [--absolute] [--separator=;]
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const groups = ['common', 'avx2', 'avx512'];

function groupOf(file) {
  if (file.endsWith('_avx512.cpp')) return 'avx512';
  if (file.endsWith('_avx2.cpp')) return 'avx2';
  return 'common';
}

function listSources(group) {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.cpp')) found.push(path.relative(root, full).split(path.sep).join('/'));
    }
  };
  walk(path.join(root, 'native'));
  return found.filter((file) => groupOf(file) === group).sort();
}

module.exports = { listSources, groups, groupOf };

if (require.main === module) {
  const group = process.argv[2];
  if (!groups.includes(group)) {
    process.stderr.write(`native-sources: expected one of ${groups.join(', ')} but received ${group}\n`);
    process.exit(2);
  }
  const absolute = process.argv.includes('--absolute');
  const separatorFlag = process.argv.find((arg) => arg.startsWith('--separator='));
  const separator = separatorFlag ? separatorFlag.slice('--separator='.length) : ' ';
  const files = listSources(group).map((file) => (absolute ? path.join(root, file) : file));
  process.stdout.write(files.join(separator));
}
