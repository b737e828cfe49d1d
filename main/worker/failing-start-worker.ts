// Test-only worker entry that dies while it loads, before it can say it is ready (as a worker
// whose code cannot be found or that runs out of memory at start would), so tests can check that
// the simulation host gives up on it instead of replacing it in a loop. Never used by the app or
// the CLI.
throw new Error('injected start failure');
