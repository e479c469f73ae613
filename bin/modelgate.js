#!/usr/bin/env node
// Runs the built CLI; in a checkout without a build, runs the TypeScript sources directly (Node 24 strips types).
import { existsSync } from 'node:fs';

const built = new URL('../dist/src/cli/main.js', import.meta.url);
const { main } = await import(existsSync(built) ? built.href : new URL('../src/cli/main.ts', import.meta.url).href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
