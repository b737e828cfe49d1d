// Test-only worker entry: the real simulation worker, except that an experiment named
// "__crash__" makes the thread die on an uncaught exception and one named "__exit__" makes it
// exit, so tests can check that the simulation host survives a worker crash. Never used by the
// app or the CLI.
import { parentPort } from 'node:worker_threads';
import type { RunRequest } from './protocol.js';

parentPort!.on('message', (request: RunRequest) => {
  if (request.type !== 'run') return;
  if (request.experiment.name === '__crash__') {
    // Listeners share the message: hide it from the real handler, then die on an uncaught error.
    (request as { type: string }).type = 'injected-crash';
    throw new Error('injected crash');
  }
  if (request.experiment.name === '__exit__') process.exit(7);
});

await import('./simulation-worker.js');
