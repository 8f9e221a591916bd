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
}

export class ConfigError extends Error {}

export function endpointUrl(e: Endpoint): string {
  return `tcp://${e.host}:${e.port}`;
}

export function parseIni(text: string, source = 'nodes.ini'): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/[;#].*$/, '').trim();
    if (!line) return;
    const sec = /^\[([A-Za-z0-9_-]+)\]$/.exec(line);
    if (sec) {
      if (sections.has(sec[1])) throw new ConfigError(`${source}:${i + 1}: section [${sec[1]}] appears twice`);
      current = new Map();
      sections.set(sec[1], current);
      return;
    }
    const kv = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new ConfigError(`${source}:${i + 1}: expected "key = value" or "[section]", got "${raw.trim()}"`);
    if (!current) throw new ConfigError(`${source}:${i + 1}: "${kv[1]}" is outside any [section]`);
    current.set(kv[1], kv[2]);
  });
  return sections;
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

export function configFromIni(text: string, source: string): ClusterConfig {
  const ini = parseIni(text, source);
  const endpoint = (name: string): Endpoint => {
    const s = ini.get(name)!;
    const host = s.get('host') ?? '127.0.0.1';
    const port = Number(s.get('port'));
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${source}: [${name}] needs port = 1..65535`);
    return { name, host, port };
  };
  const named = (re: RegExp) => [...ini.keys()].filter((k) => re.test(k)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const nodes = named(/^P[0-9]+$/).map(endpoint);
  const clients = named(/^C[0-9]+$/).map(endpoint);
  nodes.forEach((n, i) => {
    if (n.name !== `P${i + 1}`) throw new ConfigError(`${source}: nodes must be numbered P1..P${nodes.length} without gaps (found ${n.name})`);
  });
  if (nodes.length === 0) throw new ConfigError(`${source}: no [P1].. sections`);
  const delay = ini.get('network')?.get('delay_ms') ?? '0';
  const delayMs = Number(delay);
  if (!Number.isInteger(delayMs) || delayMs < 0) throw new ConfigError(`${source}: [network] delay_ms must be a whole number of milliseconds >= 0`);
  return { delayMs, nodes, clients, source };
}

/** Writes a config (used by tests, the cluster console and the benchmark to run on other ports). */
export function configToIni(c: Omit<ClusterConfig, 'source'>): string {
  const lines = ['[network]', `delay_ms = ${c.delayMs}`, ''];
  for (const e of [...c.nodes, ...c.clients]) lines.push(`[${e.name}]`, `host = ${e.host}`, `port = ${e.port}`, '');
  return lines.join('\n');
}
