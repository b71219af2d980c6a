// `kiln bench` without the CLI hook: node dist/scripts/bench-models.js [options]
// (same options as `kiln bench --help`).
import { benchCommand } from '../lib/bench/command';

benchCommand(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`kiln: ${error.message}\n`);
  process.exit(1);
});
