// Child process of experiment-store.crash.test.ts: saves two experiments alternately to one file
// as fast as it can until it is killed. Reads the two documents from JSON files; waits for
// "go A" or "go B" on stdin (which document to save first) so that its start-up is not timed.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ExperimentStore } from './experiment-store.js';

const [workspaceDir, target, docAFile, docBFile] = process.argv.slice(2);
if (!workspaceDir || !target || !docAFile || !docBFile) {
  process.stderr.write('usage: crash-child WORKSPACE TARGET DOC_A.json DOC_B.json\n');
  process.exit(2);
}
const docs = {
  A: JSON.parse(readFileSync(docAFile, 'utf8')) as unknown,
  B: JSON.parse(readFileSync(docBFile, 'utf8')) as unknown,
};
const store = await ExperimentStore.create({ workspaceDir });
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) {
  const first = line.trim() === 'go B' ? 'B' : 'A';
  const order = first === 'A' ? [docs.A, docs.B] : [docs.B, docs.A];
  for (let i = 0; ; i++) {
    await store.save(order[i % 2], { path: target });
    process.stdout.write(`saved ${i}\n`);
  }
}
