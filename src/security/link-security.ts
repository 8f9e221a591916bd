/**
 * How a process secures its links: CurveZMQ with the cluster's key set (the default), or plain
 * TCP with `--insecure` (explicit, announced at every start). The key set is found through the
 * cluster file (`[security] keys_dir`, default `keys` beside it); a local development set is
 * made on first start when every process of the cluster is on this machine.
 */
import * as net from 'node:net';
import { ClusterConfig } from '../config';
import { createKeySet, KeyError, KeyRing } from './keys';

export type LinkSecurity = { mode: 'curve'; ring: KeyRing } | { mode: 'plain' };

/** Printed at every start of a process run with --insecure. */
export function insecureBanner(who: string): string {
  return `WARNING: ${who} runs with --insecure: its links are neither encrypted nor authenticated, so anyone who can reach its port can read the traffic and forge any message (change data, stop the cluster). For reading traffic while learning, on a private machine only.`;
}

const loopback = (host: string) => host === 'localhost' || (net.isIPv4(host) && host.startsWith('127.')) || host === '::1';

/** Every process of `config` runs on this machine (so a key set may be made here for all of them). */
export function allLocal(config: ClusterConfig): boolean {
  return [...config.nodes, ...config.clients].every((e) => loopback(e.host));
}

/**
 * The key ring of `self`. When the configured key folder does not exist and the whole cluster is
 * local, a development key set for every process in the file is made first (and `onCreated`
 * told); a cluster on several hosts needs its keys made and copied by hand (see the README).
 */
export function openKeyRing(config: ClusterConfig, self: string, onCreated?: (line: string) => void): KeyRing {
  if (allLocal(config) && createKeySet(config.keysDir, [...config.nodes, ...config.clients].map((e) => e.name))) {
    onCreated?.(`created a development key set for ${[...config.nodes, ...config.clients].map((e) => e.name).join(', ')} in ${config.keysDir} (secret keys mode 0600; make a new one with: npm run keys -- new)`);
  }
  try {
    return KeyRing.load(config.keysDir, self);
  } catch (e) {
    if (e instanceof KeyError) throw e;
    throw new KeyError(`cannot load the keys of ${self} from ${config.keysDir}: ${(e as Error).message}`);
  }
}

export function linkSecurity(config: ClusterConfig, self: string, insecure: boolean, onCreated?: (line: string) => void): LinkSecurity {
  return insecure ? { mode: 'plain' } : { mode: 'curve', ring: openKeyRing(config, self, onCreated) };
}
