#!/usr/bin/env node
// Runs the built CLI; in a checkout without a build, runs the TypeScript sources directly (Node 24 strips types).
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  // One line instead of a stack trace from a dependency that needs a newer Node.
  process.stderr.write(
    `modelgate: Node.js 24 or newer is needed, this is ${process.version}; install Node.js 24 LTS (in a checkout, npm start and npm test fetch it themselves)\n`,
  );
  process.exit(2);
}

const built = new URL('../dist/src/cli/main.js', import.meta.url);
const { main } = await import(existsSync(built) ? built.href : new URL('../src/cli/main.ts', import.meta.url).href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
