/**
 * The command line of every entry point, on `node:util.parseArgs` (strict): `--name value`,
 * `--name=value`, boolean `--flag`, short aliases (`-q`), positionals, `--` before a positional
 * that starts with a dash. Every entry point also gets `--help`/`-h` and `--version`/`-V`.
 * Unknown options and bad values are reported as a one-line `UsageError`, which `runCli`
 * prints with a `--help` hint and exit code 2.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs as utilParseArgs } from 'node:util';
import { ClusterConfig, ConfigError, loadConfig } from '../config';

export class UsageError extends Error {}

/** Exit codes of every entry point (documented in the README and in the client's --help). */
export const EXIT = {
  OK: 0,
  /** An operation or check failed (a bad line on piped stdin, a failed scenario, an internal error). */
  FAILED: 1,
  /** Bad command line or config: nothing was done. */
  USAGE: 2,
  /** The deadline (--timeout-ms) passed without an answer: the operation may or may not take effect. */
  TIMEOUT: 3,
  /** No node of the cluster accepted a connection: nothing was sent. */
  UNREACHABLE: 4,
  /** Stopped by Ctrl-C (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;

export interface OptionSpec {
  name: string;
  type: 'string' | 'int' | 'flag';
  help: string;
  /** Shown in --help as the value's placeholder. */
  arg?: string;
  /** One-letter alias, e.g. 'q' for -q. */
  short?: string;
}

export interface Parsed {
  positional: string[];
  values: Map<string, string | number | boolean>;
  /** --help / -h was given (the rest of the line is not checked). */
  help: boolean;
  /** --version / -V was given. */
  version: boolean;
}

const BUILTIN: OptionSpec[] = [
  { name: 'help', short: 'h', type: 'flag', help: 'show this help' },
  { name: 'version', short: 'V', type: 'flag', help: 'print the chainkv version and exit' },
];

function optionName(token: string, specs: readonly OptionSpec[]): string {
  const bare = token.replace(/^-+/, '').replace(/=.*$/, '');
  if (/^--/.test(token)) return `--${bare}`;
  const s = specs.find((x) => x.short === bare);
  return s ? `--${s.name}` : `-${bare}`;
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const all = [...specs, ...BUILTIN];
  // --help/--version anywhere win over whatever else is on the line.
  const wants = (s: OptionSpec) => argv.some((a) => a === `--${s.name}` || (s.short !== undefined && a === `-${s.short}`));
  const help = wants(BUILTIN[0]);
  const version = wants(BUILTIN[1]);
  if (help || version) return { positional: [], values: new Map(), help, version };
  // `--delay-ms -1`: a negative number is a value here, so that its range check can explain it.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const s = all.find((x) => argv[i] === `--${x.name}` || (x.short !== undefined && argv[i] === `-${x.short}`));
    if (s && s.type !== 'flag' && i + 1 < argv.length && /^-[0-9]/.test(argv[i + 1])) {
      args.push(`--${s.name}=${argv[++i]}`);
    } else {
      args.push(argv[i]);
    }
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const s of all) options[s.name] = { type: s.type === 'flag' ? 'boolean' : 'string', ...(s.short ? { short: s.short } : {}) };
  let parsed: ReturnType<typeof utilParseArgs>;
  try {
    parsed = utilParseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
    const token = quoted.replace(/ <value>$/, '');
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const name = token.replace(/^-+/, '');
      const near = all.find((s) => s.name.startsWith(name) || name.startsWith(s.name));
      throw new UsageError(`unknown option ${token}${near && name.length > 1 ? ` (did you mean --${near.name}?)` : ''}`);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = optionName(token, all);
      if (/does not take an argument/.test(err.message)) throw new UsageError(`${name} takes no value`);
      throw new UsageError(`${name} needs a value`);
    }
    throw new UsageError(err.message.split('\n')[0]);
  }
  const values = new Map<string, string | number | boolean>();
  for (const s of specs) {
    const v = parsed.values[s.name];
    if (v === undefined) continue;
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (s.type === 'int') {
      const raw = String(one);
      if (!/^-?[0-9]+$/.test(raw)) throw new UsageError(`--${s.name} must be an integer, got "${raw}"`);
      values.set(s.name, Number(raw));
    } else {
      values.set(s.name, one as string | boolean);
    }
  }
  return { positional: parsed.positionals, values, help: false, version: false };
}

export function helpText(usage: string, about: string, specs: readonly OptionSpec[]): string {
  const rows = [...specs, ...BUILTIN].map((s) => {
    const left = `  ${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'flag' ? '' : ` ${s.arg ?? (s.type === 'int' ? 'N' : 'VALUE')}`}`;
    return `${left.padEnd(30)} ${s.help}`;
  });
  return `${usage}\n\n${about}\n\nOptions:\n${rows.join('\n')}\n`;
}

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** `chainkv 0.1.0 (node v20.20.2)`, from package.json. */
export function versionText(): string {
  let version = 'unknown';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? version;
  } catch { /* a copy without package.json */ }
  return `chainkv ${version} (node ${process.version})`;
}

/**
 * Parses the command line; prints the help or the version and returns null when asked for
 * them, so that `main` just returns.
 */
export function commandLine(argv: readonly string[], specs: readonly OptionSpec[], usage: string, about: string): Parsed | null {
  const args = parseArgs(argv, specs);
  if (args.help) {
    process.stdout.write(helpText(usage, about, specs));
    return null;
  }
  if (args.version) {
    process.stdout.write(versionText() + '\n');
    return null;
  }
  return args;
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

/** An error that ends the program with a given exit code and one line on stderr. */
export class ExitError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

/** Runs `main`, turning a UsageError into a one-line message and exit code 2 (never a stack trace). */
export function runCli(name: string, main: () => Promise<void> | void): void {
  // Output piped into `head` (or a closed terminal): stop quietly, as other command-line tools do.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.OK);
    });
  }
  Promise.resolve()
    .then(main)
    .catch((e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`${name}: ${e.message} (see --help)\n`);
        process.exitCode = EXIT.USAGE;
      } else if (e instanceof ExitError) {
        process.stderr.write(`${name}: ${e.message}\n`);
        process.exitCode = e.code;
      } else {
        process.stderr.write(`${name}: ${(e as Error)?.message ?? String(e)}\n`);
        process.exitCode = EXIT.FAILED;
      }
    });
}
