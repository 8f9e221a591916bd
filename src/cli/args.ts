/**
 * A small, strict command-line parser shared by every entry point: `--name value`,
 * `--name=value` and boolean `--flag`. Unknown options and bad values are reported as a
 * one-line `UsageError`, which each entry point prints with its `--help` hint.
 */
import * as path from 'node:path';
import { ClusterConfig, ConfigError, loadConfig } from '../config';

export class UsageError extends Error {}

export interface OptionSpec {
  name: string;
  type: 'string' | 'int' | 'flag';
  help: string;
  /** Shown in --help as the value's placeholder. */
  arg?: string;
}

export interface Parsed {
  positional: string[];
  values: Map<string, string | number | boolean>;
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const positional: string[] = [];
  const values = new Map<string, string | number | boolean>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || a === '--') {
      if (a !== '--') positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown option --${name}`);
    if (spec.type === 'flag') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      values.set(name, true);
      continue;
    }
    const raw = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    if (spec.type === 'int') {
      if (!/^-?[0-9]+$/.test(raw)) throw new UsageError(`--${name} must be an integer, got "${raw}"`);
      values.set(name, Number(raw));
    } else {
      values.set(name, raw);
    }
  }
  return { positional, values };
}

export function helpText(usage: string, about: string, specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.name}${s.type === 'flag' ? '' : ` ${s.arg ?? (s.type === 'int' ? 'N' : 'VALUE')}`}`;
    return `${left.padEnd(28)} ${s.help}`;
  });
  return `${usage}\n\n${about}\n\nOptions:\n${rows.join('\n')}\n  --help                     show this help\n`;
}

/** Loads `--config FILE` (default: nodes.ini at the project root), turning a bad file into a UsageError. */
export function configFromArgs(args: Parsed, root: string): ClusterConfig {
  try {
    return loadConfig((args.values.get('config') as string | undefined) ?? path.join(root, 'nodes.ini'));
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

/** Runs `main`, turning a UsageError into a one-line message and exit code 2 (never a stack trace). */
export function runCli(name: string, main: () => Promise<void> | void): void {
  Promise.resolve()
    .then(main)
    .catch((e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`${name}: ${e.message} (see --help)\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`${name}: ${(e as Error)?.message ?? String(e)}\n`);
        process.exitCode = 1;
      }
    });
}
