/** Shared by the attack-sec tests: raw CurveZMQ sockets holding one key of a running cluster's key set. */
import * as fs from 'node:fs';
import * as zmq from 'zeromq';
import { AnyMessage, encode } from '../../messages';
import { KeyRing, publicPath, secretPath } from '../../src/security/keys';
import { Cluster, sleep } from '../e2e/harness';

export type KeyPair = { publicKey: string; secretKey: string };

export function keyOf(c: Cluster, name: string): KeyPair {
  return {
    publicKey: fs.readFileSync(publicPath(c.config.keysDir, name), 'utf8').trim(),
    secretKey: fs.readFileSync(secretPath(c.config.keysDir, name), 'utf8').trim(),
  };
}

/** A holder of `name`'s key (only that secret, and every node's public key). */
export class KeyHolder {
  readonly ring: KeyRing;
  readonly sockets = new Map<number, zmq.Dealer>();
  constructor(readonly c: Cluster, readonly name: string) {
    this.ring = KeyRing.inMemory(name, new Map([[name, keyOf(c, name)], ...c.config.nodes.map((n) => [n.name, { publicKey: keyOf(c, n.name).publicKey, secretKey: '' }] as [string, KeyPair])]));
  }

  socket(id: number): zmq.Dealer {
    let d = this.sockets.get(id);
    if (!d) {
      const kp = keyOf(this.c, this.name);
      d = new zmq.Dealer({ linger: 0, sendTimeout: 0, curveServerKey: keyOf(this.c, `P${id}`).publicKey, curvePublicKey: kp.publicKey, curveSecretKey: kp.secretKey });
      d.connect(`tcp://127.0.0.1:${this.c.config.nodes[id - 1].port}`);
      this.sockets.set(id, d);
    }
    return d;
  }

  /** Sends `msg` to node `id` as itself, with a valid MAC (a dropped send is ignored). */
  async send(id: number, msg: AnyMessage | string): Promise<void> {
    const payload = typeof msg === 'string' ? msg : encode(this.name, msg);
    await Promise.race([this.socket(id).send([this.name, this.ring.mac(`P${id}`, payload)!, payload]).catch(() => {}), sleep(1000)]);
  }

  close(): void {
    for (const d of this.sockets.values()) d.close();
    this.sockets.clear();
  }
}
