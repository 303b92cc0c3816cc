/**
 * The layer table of eslint.config.js held against the code as it is: every top-level folder with
 * TypeScript is in the table (a new folder cannot slip past the fences), the table is an order (no two
 * layers allow each other), and every relative import of every file (type-only and dynamic ones
 * included) stays within what its layer allows.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
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
});
