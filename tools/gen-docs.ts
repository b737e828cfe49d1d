// `npm run docs`: regenerates docs/experiment-format.md from the experiment schema.
import { writeFileSync } from 'node:fs';
import { experimentFormatMarkdown } from '../core/experiment/doc.js';

writeFileSync(new URL('../docs/experiment-format.md', import.meta.url), experimentFormatMarkdown());
console.log('wrote docs/experiment-format.md');
