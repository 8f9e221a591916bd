/**
 * `nodes.ini`: where every process is and the network's constant delay. Every node and
 * client reads the same file.
 *
 *     [network]
 *     delay_ms = 5000
 *     [P1]
 *     host = 127.0.0.1
 *     port = 7001
 *     ...
 *     [C1]
 *     host = 127.0.0.1
 *     port = 7101
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export interface Endpoint {
  name: string;
  host: string;
  port: number;
}

export interface ClusterConfig {
  delayMs: number;
  nodes: Endpoint[];
  clients: Endpoint[];
  /** The file it came from (for messages). */
  source: string;
  /** The key set's folder (`[security] keys_dir`, relative to the file; default `keys` beside it). */
  keysDir: string;
}

export class ConfigError extends Error {}

export function endpointUrl(e: Endpoint): string {
  return `tcp://${e.host}:${e.port}`;
}

/** One `key = value` line of an ini file, with where it is. */
export interface IniEntry {
  value: string;
  line: number;
}

/** One `[section]` of an ini file: its line and its keys. */
export interface IniSection {
  line: number;
  keys: Map<string, IniEntry>;
}

/** Parses an ini file, keeping line numbers for messages; throws ConfigError on bad syntax. */
export function parseIniLines(text: string, source = 'nodes.ini'): Map<string, IniSection> {
  const sections = new Map<string, IniSection>();
  let current: IniSection | null = null;
  let currentName = '';
  text.split(/\r?\n/).forEach((raw, i) => {
    const at = `${source}:${i + 1}`;
    const line = raw.replace(/[;#].*$/, '').trim();
    if (!line) return;
    const sec = /^\[([A-Za-z0-9_-]+)\]$/.exec(line);
    if (sec) {
      const prev = sections.get(sec[1]);
      if (prev) throw new ConfigError(`${at}: section [${sec[1]}] appears twice (first at line ${prev.line}); merge them into one`);
      current = { line: i + 1, keys: new Map() };
      currentName = sec[1];
      sections.set(sec[1], current);
      return;
    }
    const kv = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new ConfigError(`${at}: expected "key = value" or "[section]", got "${raw.trim()}"`);
    if (!current) throw new ConfigError(`${at}: "${kv[1]}" is outside any [section]; put it under one, e.g. [network]`);
    const sect: IniSection = current;
    const dup = sect.keys.get(kv[1]);
    if (dup) throw new ConfigError(`${at}: ${kv[1]} appears twice in [${currentName}] (first at line ${dup.line}); keep one`);
    sect.keys.set(kv[1], { value: kv[2], line: i + 1 });
  });
  return sections;
}

/** The sections and keys of an ini file, without line numbers. */
export function parseIni(text: string, source = 'nodes.ini'): Map<string, Map<string, string>> {
  return new Map([...parseIniLines(text, source)].map(([name, s]) => [name, new Map([...s.keys].map(([k, e]) => [k, e.value]))]));
}

export function loadConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return configFromIni(text, path);
}

/** Limits checked at load. */
export const MAX_NODES = 15;
export const MAX_CLIENTS = 100;
export const MAX_DELAY_MS = 600_000;

const KEYS: Record<'network' | 'security' | 'process', string[]> = { network: ['delay_ms'], security: ['keys_dir'], process: ['host', 'port'] };

/**
 * Hosts are IP addresses (or localhost): a node binds its socket to its host, and ZeroMQ takes a
 * bind address that is not an IP as a network interface name.
 */
function checkHost(host: string): string | null {
  if (host === 'localhost' || net.isIP(host) !== 0) return null;
  if (host === '') return 'is empty';
  return 'is not an IP address (ZeroMQ binds to an address or interface, not a host name)';
}

/**
 * Reads and checks a cluster file: known sections ([network], [P1]..[Pn], [C1]..[Cm]) and
 * keys only, ports 1..65535, IP hosts, every host:port used once, nodes numbered without gaps,
 * at most MAX_NODES nodes and MAX_CLIENTS clients, delay_ms 0..MAX_DELAY_MS. Every error names
 * the file, the line and what to do.
 */
export function configFromIni(text: string, source: string): ClusterConfig {
  const ini = parseIniLines(text, source);
  const at = (line: number) => `${source}:${line}`;
  for (const [name, s] of ini) {
    const kind = name === 'network' || name === 'security' ? name : /^[PC][1-9][0-9]*$/.test(name) ? 'process' : null;
    if (!kind) throw new ConfigError(`${at(s.line)}: unknown section [${name}]; expected [network], [security], [P1]..[P${MAX_NODES}] (nodes) or [C1].. (clients)`);
    for (const [key, e] of s.keys) {
      if (!KEYS[kind].includes(key)) throw new ConfigError(`${at(e.line)}: unknown key "${key}" in [${name}]; expected ${KEYS[kind].join(' and ')}`);
    }
  }
  const used = new Map<string, string>();
  const endpoint = (name: string): Endpoint => {
    const s = ini.get(name)!;
    const h = s.keys.get('host');
    const host = h?.value ?? '127.0.0.1';
    const hostProblem = checkHost(host);
    if (hostProblem) throw new ConfigError(`${at(h?.line ?? s.line)}: [${name}] host "${host}" ${hostProblem}; use e.g. host = 127.0.0.1`);
    const p = s.keys.get('port');
    if (!p) throw new ConfigError(`${at(s.line)}: [${name}] has no port; add e.g. port = ${name.startsWith('P') ? 7000 : 7100}${name.slice(1)}`);
    const port = /^[0-9]+$/.test(p.value) ? Number(p.value) : NaN;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${at(p.line)}: [${name}] port "${p.value}" must be a whole number 1..65535 (an unused one)`);
    const key = `${host === 'localhost' ? '127.0.0.1' : host}:${port}`;
    const other = used.get(key);
    if (other) throw new ConfigError(`${at(p.line)}: [${name}] uses ${host}:${port}, already used by [${other}]; give every process its own port`);
    used.set(key, name);
    return { name, host, port };
  };
  const named = (prefix: string) => [...ini.keys()].filter((k) => /^[PC][0-9]/.test(k) && k.startsWith(prefix)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const nodeNames = named('P');
  const clientNames = named('C');
  if (nodeNames.length === 0) throw new ConfigError(`${source}: no nodes; add sections [P1]..[P5] with host and port`);
  nodeNames.forEach((n, i) => {
    if (n !== `P${i + 1}`) throw new ConfigError(`${at(ini.get(n)!.line)}: nodes must be numbered P1..P${nodeNames.length} without gaps (found [${n}] where [P${i + 1}] belongs); renumber them`);
  });
  if (nodeNames.length > MAX_NODES) throw new ConfigError(`${at(ini.get(nodeNames[MAX_NODES])!.line)}: at most ${MAX_NODES} nodes (found ${nodeNames.length}); remove [P${MAX_NODES + 1}] and after`);
  if (clientNames.length > MAX_CLIENTS) throw new ConfigError(`${at(ini.get(clientNames[MAX_CLIENTS])!.line)}: at most ${MAX_CLIENTS} clients (found ${clientNames.length})`);
  const nodes = nodeNames.map(endpoint);
  const clients = clientNames.map(endpoint);
  const d = ini.get('network')?.keys.get('delay_ms');
  const delayMs = d === undefined ? 0 : /^[0-9]+$/.test(d.value) ? Number(d.value) : NaN;
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
    throw new ConfigError(`${at(d!.line)}: [network] delay_ms "${d!.value}" must be a whole number of milliseconds 0..${MAX_DELAY_MS} (the spec's demos use 5000)`);
  }
  const k = ini.get('security')?.keys.get('keys_dir');
  if (k && (k.value === '' || k.value.length > 4096)) throw new ConfigError(`${at(k.line)}: [security] keys_dir must name a folder, e.g. keys_dir = keys`);
  const keysDir = path.resolve(path.dirname(source), k?.value ?? 'keys');
  return { delayMs, nodes, clients, source, keysDir };
}

/** Writes a config (used by tests, the cluster console and the benchmark to run on other ports). */
export function configToIni(c: Omit<ClusterConfig, 'source' | 'keysDir'> & { keysDir?: string }): string {
  const lines = ['[network]', `delay_ms = ${c.delayMs}`, ''];
  if (c.keysDir !== undefined) lines.push('[security]', `keys_dir = ${c.keysDir}`, '');
  for (const e of [...c.nodes, ...c.clients]) lines.push(`[${e.name}]`, `host = ${e.host}`, `port = ${e.port}`, '');
  return lines.join('\n');
}
