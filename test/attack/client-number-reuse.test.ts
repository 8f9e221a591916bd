/**
 * ATTACK 1b — same root cause as attack 1 (a request's identity is not unique across client
 * lives), other symptom: a restarted client whose stepped-back clock lands on a number its
 * previous life used, with the same contents, is answered from the session cache. Its put is
 * acknowledged but never applied (an acknowledged write lost), or its get returns an old value.
 *
 * Numbers are `Date.now() * 1000` at start plus one per operation (src/client/client.ts): a life
 * that ran N operations covers N/1000 ms of numbers, so any later life whose (stepped-back) start
 * reading falls in that window reuses them.
 */
import { strict as assert } from 'node:assert';
import { ClientReply } from '../../messages';
import { checkLinearizable, HistoryOp } from '../../src/check/linearizability';
import { ClientCore } from '../../src/client/client-core';
import { HandNet } from '../support/hand-net';
import { cfg, elect, fromClient, newSession, random, settle } from './support';

const client = (id: string, lastReq: number) => new ClientCore({ id, nodes: 5, replyTo: id, timeoutMs: 1000, hint: 1, lastReq, session: newSession() });

function run(net: HandNet, c: ClientCore, id: string, op: 'put' | 'get', key: string, value: string | undefined, now: number): ClientReply {
  const [out] = c.submit(op, key, value, now);
  fromClient(net, out.to, id, out.msg);
  settle(net);
  const reply = net.replies.filter((r) => r.to === id && r.msg.kind === 'reply').pop()!;
  assert.ok(c.onReply(reply.msg as ClientReply, now + 1));
  return reply.msg as ClientReply;
}

describe('attack (fixed): a restarted client reuses a request number with the same contents', () => {
  it('its put takes effect as a new request of its new session, not answered from the old one\'s cache', () => {
    const net = new HandNet([[], [], [], [], []], cfg, random);
    elect(net, 1, [2, 3, 4, 5]);
    const history: HistoryOp[] = [];
    run(net, client('C1', 1_700_000_000_000_000), 'C1', 'put', 'k', '"V"', 0);
    history.push({ client: 'C1', op: 'put', key: 'k', value: '"V"', call: 0, ret: 1 });
    run(net, client('C2', 0), 'C2', 'put', 'k', '"W"', 10);
    history.push({ client: 'C2', op: 'put', key: 'k', value: '"W"', call: 10, ret: 11 });
    // C1 restarts; its clock stepped back to the very millisecond its first life started.
    const again = run(net, client('C1', 1_700_000_000_000_000), 'C1', 'put', 'k', '"V"', 20);
    history.push({ client: 'C1', op: 'put', key: 'k', value: '"V"', call: 20, ret: 21 });
    const got = run(net, client('C3', 0), 'C3', 'get', 'k', undefined, 30);
    history.push({ client: 'C3', op: 'get', key: 'k', result: got.result, call: 30, ret: 31 });
    assert.deepEqual({ ackedPutAtDepth: again.depth, readAfterIt: got.result, linearizable: checkLinearizable(history).ok },
      { ackedPutAtDepth: 2, readAfterIt: '"V"', linearizable: true },
      'the second put V must take effect at its own depth');
  });
});
