// Both builds must compile the same sources: binding.gyp (node-gyp, what
// `npm install` runs) and CMakeLists.txt (cmake-js) each take every group's
// list from scripts/native-sources.js. This test proves they do, and that the
// lists cover every .cpp file under native/ exactly once.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sources = require(path.join(root, 'scripts', 'native-sources.js')) as {
  listSources(group: string): string[];
  groups: string[];
};

function allCppFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...allCppFiles(full));
    else if (entry.name.endsWith('.cpp')) found.push(path.relative(root, full).split(path.sep).join('/'));
  }
  return found;
}

t.test('every native .cpp file is in exactly one group', async (t) => {
  const listed = sources.groups.flatMap((group) => sources.listSources(group));
  t.same([...listed].sort(), allCppFiles(path.join(root, 'native')).sort());
  t.equal(new Set(listed).size, listed.length, 'no file in two groups');
  t.ok(sources.listSources('common').includes('native/addon/module.cpp'));
});

t.test('binding.gyp reads each group from the shared list', async (t) => {
  const gyp = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  for (const group of sources.groups) {
    t.match(gyp, `<!@(node scripts/native-sources.js ${group})`, `binding.gyp lists ${group} sources from the script`);
  }
  t.notMatch(gyp, /"native\/[^"]+\.cpp"/, 'binding.gyp names no source file by hand');
});

t.test('CMakeLists.txt reads each group from the shared list', async (t) => {
  const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  t.match(cmake, 'scripts/native-sources.js ${group}');
  for (const group of sources.groups) t.match(cmake, `kiln_sources(${group} `);
  t.notMatch(cmake, /native\/[^\s)]+\.cpp/, 'CMakeLists.txt names no source file by hand');
});

const objectDir = path.join(root, 'build', 'Release', 'obj.target');
t.test('the node-gyp build compiled exactly the listed sources', { skip: fs.existsSync(objectDir) ? false : 'no node-gyp build in build/' }, async (t) => {
  const targets: Record<string, string> = { common: 'kiln', avx2: 'kiln_avx2', avx512: 'kiln_avx512' };
  for (const group of sources.groups) {
    const targetDir = path.join(objectDir, targets[group]);
    const objects = fs.existsSync(targetDir)
      ? allObjects(targetDir).map((file) => path.relative(targetDir, file).replace(/\.o$/, '.cpp').split(path.sep).join('/'))
      : [];
    const expected = process.arch === 'x64' || group === 'common' ? sources.listSources(group) : [];
    t.same(objects.sort(), expected, `${group} objects match the list (rebuild if this fails after adding a file)`);
  }
});

function allObjects(dir: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...allObjects(full));
    else if (entry.name.endsWith('.o')) found.push(full);
  }
  return found;
}
