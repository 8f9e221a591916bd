/**
 * The process's ZAP handler (ZeroMQ RFC 27): ZeroMQ asks it, over `inproc://zeromq.zap.01`,
 * whether to admit each CURVE connection, giving the client's long-term public key. One handler
 * serves the whole process (the benchmark hosts 64 clients in one); each bound socket has its
 * own ZAP domain, registered here with the function that says which keys it admits.
 *
 * Every bound socket also sets `zapEnforceDomain`: without a handler (or before it is bound) a
 * CURVE server would otherwise admit any key.
 */
import * as zmq from 'zeromq';

const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** Says whether a connection with this public key is admitted (its identity) or why not. */
export type Admit = (publicKey: Uint8Array, address: string) => { name: string } | { refused: string };

const domains = new Map<string, Admit>();
let handler: zmq.Router | null = null;
let next = 0;

async function serve(router: zmq.Router): Promise<void> {
  try {
    for await (const f of router) {
      // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials...]
      if (f.length < 8) continue; // not a ZAP request: nothing to answer
      const [id, empty, version, requestId, domain, address, , mechanism] = f;
      const answer = (code: '200' | '400', text: string, user = '') =>
        router.send([id, empty, '1.0', requestId, code, text, user, Buffer.alloc(0)]).catch(() => { /* the socket closed */ });
      if (version.toString() !== '1.0') { await answer('400', 'unsupported ZAP version'); continue; }
      const admit = domains.get(domain.toString());
      if (!admit) { await answer('400', 'unknown domain'); continue; }
      if (mechanism.toString() !== 'CURVE' || f.length !== 9 || f[8].byteLength !== 32) { await answer('400', 'CURVE required'); continue; }
      const verdict = admit(f[8], address.toString());
      if ('name' in verdict) await answer('200', 'OK', verdict.name);
      else await answer('400', verdict.refused);
    }
  } catch {
    /* closed */
  }
}

/**
 * Registers a ZAP domain (binding the handler first if this is the first one). Returns the
 * domain to set on the socket and a function that unregisters it; the handler closes with the
 * last domain, so it never keeps the process alive.
 */
export async function registerZapDomain(prefix: string, admit: Admit): Promise<{ domain: string; release: () => void }> {
  const domain = `${prefix}#${++next}`;
  domains.set(domain, admit);
  if (!handler) {
    const router = new zmq.Router({ linger: 0 });
    handler = router;
    try {
      await router.bind(ZAP_ENDPOINT);
    } catch (e) {
      handler = null;
      domains.delete(domain);
      throw new Error(`cannot start the ZAP handler: ${(e as Error).message}`);
    }
    void serve(router);
  }
  let released = false;
  return {
    domain,
    release: () => {
      if (released) return;
      released = true;
      domains.delete(domain);
      if (domains.size === 0 && handler) {
        try { handler.close(); } catch { /* closed */ }
        handler = null;
      }
    },
  };
}
