#!/usr/bin/env node
// The CLI runs from its TypeScript source through tsx's loader (tsx caches each transform, so a second
// start compiles nothing): no build step, so a fresh clone runs `npx llmopt` right after `npm ci`.
import { URL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/main.ts', import.meta.url).href);
