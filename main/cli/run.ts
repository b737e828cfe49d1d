// Entry point of `npm run cli` and the `gmem-lab` bin.
import { endQuietlyOnClosedPipe } from './closed-pipe.js';
import { main } from './index.js';

endQuietlyOnClosedPipe(process.stdout);
endQuietlyOnClosedPipe(process.stderr);
process.exitCode = await main(process.argv.slice(2));
