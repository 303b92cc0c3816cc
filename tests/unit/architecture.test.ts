/**
 * The layer table of eslint.config.js held against the code as it is: every top-level folder with
 * TypeScript is in the table (a new folder cannot slip past the fences), the table is an order (no two
 * layers allow each other), and every relative import of every file (type-only and dynamic ones
 * included) stays within what its layer allows. No file reaches itself through its imports, type-only
 * ones included (lint's \`import-x/no-cycle\` does not follow type-only imports).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../platform/paths';

interface LintConfig {
  layers: Record<string, string[]>;
}

/** Folders outside the table: bench and tests may import any layer; sdk is a package of its own. */
const UNLAYERED = ['bench', 'tests', 'sdk'];
const SKIPPED = new Set(['node_modules', 'dist', 'coverage']);

let config: LintConfig;
beforeAll(async () => {
  const url = pathToFileURL(join(PROJECT_ROOT, 'eslint.config.js')).href;
  config = (await import(url)) as LintConfig;
});

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIPPED.has(name) || name.startsWith('.')) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

const topFolders = () =>
  readdirSync(PROJECT_ROOT).filter(
    (name) =>
      !SKIPPED.has(name) &&
      !name.startsWith('.') &&
      statSync(join(PROJECT_ROOT, name)).isDirectory() &&
      tsFiles(join(PROJECT_ROOT, name)).length > 0,
  );

/** The project folder each relative import of `file` lands in. */
function importedFolders(file: string): { specifier: string; folder: string }[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => ({
      specifier,
      folder: relative(PROJECT_ROOT, resolve(dirname(file), specifier)).split('/')[0]!,
    }));
}

/** The project file a relative import of `file` names, as TypeScript resolves it; null for a non-TS file. */
function resolveImport(file: string, specifier: string): string | null {
  const base = resolve(dirname(file), specifier);
  const candidates = [base.replace(/\.(m?js)$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((c) => c.endsWith('.ts') && existsSync(c) && statSync(c).isFile()) ?? null;
}

/** Every strongly connected group of more than one file (or a file importing itself), by Tarjan's algorithm. */
function importCycles(files: string[]): string[][] {
  const edges = new Map(
    files.map((file) => [
      file,
      importedFolders(file)
        .map(({ specifier }) => resolveImport(file, specifier))
        .filter((to): to is string => to !== null),
    ]),
  );
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(relative(PROJECT_ROOT, w));
    } while (w !== v);
    if (group.length > 1 || (edges.get(v) ?? []).includes(v)) groups.push(group.sort());
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return groups;
}

describe('architecture', () => {
  it('fences every top-level folder that holds code', () => {
    const unfenced = topFolders().filter((f) => !(f in config.layers) && !UNLAYERED.includes(f));
    expect(unfenced).toEqual([]);
  });

  it('orders the layers: no two allow each other, directly or through others', () => {
    const reach = (from: string, seen = new Set<string>()): Set<string> => {
      for (const next of config.layers[from] ?? []) {
        if (!seen.has(next)) {
          seen.add(next);
          reach(next, seen);
        }
      }
      return seen;
    };
    const circular = Object.keys(config.layers).filter((layer) => reach(layer).has(layer));
    expect(circular).toEqual([]);
  });

  it('keeps every import of every layer within what its layer allows', () => {
    const violations = Object.entries(config.layers).flatMap(([layer, allowed]) =>
      tsFiles(join(PROJECT_ROOT, layer))
        .map((file) => relative(PROJECT_ROOT, file))
        .flatMap((file) =>
          importedFolders(join(PROJECT_ROOT, file))
            .filter(({ folder }) => folder !== layer && !allowed.includes(folder))
            .map(({ specifier }) => `${file} -> ${specifier}`),
        ),
    );
    expect(violations).toEqual([]);
  });

  it('keeps the SDK a package of its own: sdk/src imports nothing outside it', () => {
    const outside = tsFiles(join(PROJECT_ROOT, 'sdk', 'src')).flatMap((file) =>
      importedFolders(file)
        .filter(({ folder }) => folder !== 'sdk')
        .map(({ specifier }) => `${relative(PROJECT_ROOT, file)} -> ${specifier}`),
    );
    expect(outside).toEqual([]);
  });

  it('has no import cycle between files, type-only imports included', () => {
    const files = [...Object.keys(config.layers), 'sdk'].flatMap((folder) =>
      tsFiles(join(PROJECT_ROOT, folder)),
    );
    expect(importCycles(files)).toEqual([]);
  });
});
