// Entry point of `npm run cli` and the `gmem-lab` bin.
import { main } from './index.js';

process.exitCode = await main(process.argv.slice(2));
