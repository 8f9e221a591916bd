/**
 * Regression (found by attack 1): a `stale` refusal was sent for a request that DID take effect,
 * and the client then applied it a second time under a new number. Sessions per client process fix it.
 *
 * `StateMachine.answered` keeps only the client's latest request. A restarted client whose clock
 * stepped back (the case the `stale`/renumber machinery exists for) numbers below a request of
 * its previous life that is still in flight. If its new request #n takes effect, and then the
 * old life's #m > n takes effect, a retry of #n (its reply was lost) is answered `stale` ("never
 * took effect, renumber it"). The client renumbers #n as #m+1 and the same put is applied twice.
 */
import { strict as assert } from 'node:assert';
import { ClientReply } from '../../messages';
import { checkLinearizable, HistoryOp } from '../../src/check/linearizability';
import { ClientCore } from '../../src/client/client-core';
import { StateMachine } from '../../src/core/state-machine';
import { HandNet } from '../support/hand-net';
import { cfg, elect, fromClient, newSession, random, settle } from './support';

const client = (id: string, lastReq: number) => new ClientCore({ id, nodes: 5, replyTo: id, timeoutMs: 1000, hint: 1, lastReq, session: newSession() });

/** Runs one complete operation of `c` through leader P1 and returns its answer. */
function run(net: HandNet, c: ClientCore, op: 'put' | 'get', key: string, value: string | undefined, now: number): string {
  const [out] = c.submit(op, key, value, now);
  fromClient(net, out.to, c['o'].id, out.msg);
  settle(net);
  const reply = net.replies.filter((r) => r.to === c['o'].id && r.msg.kind === 'reply').pop()!;
  const done = c.onReply(reply.msg as ClientReply, now + 1);
  assert.ok(done, 'operation completed');
  return done.result;
}

describe('attack (fixed): a retry after a restarted client\'s earlier life numbered higher', () => {
  it('is answered from its own session (applied once, history linearizable), not refused as stale', () => {
    const net = new HandNet([[], [], [], [], []], cfg, random);
    elect(net, 1, [2, 3, 4, 5]);
    assert.ok(net.R[0].isLeader);
    const history: HistoryOp[] = [];

    // C1, first life (its clock reads 2,000 s): put k=OLD is sent; the message is held up in the network.
    const life1 = client('C1', 2_000_000_000);
    const [late] = life1.submit('put', 'k', '"OLD"', 0);
    history.push({ client: 'C1', op: 'put', key: 'k', value: '"OLD"', call: 0, ret: Infinity });
    // C1 crashes and restarts; its clock stepped back one second (NTP), so it numbers from 1,999 s.
    const life2 = client('C1', 1_999_000_000);
    const [first] = life2.submit('put', 'k', '"X"', 10);
    const xCall = 10;
    fromClient(net, first.to, 'C1', first.msg);
    settle(net);
    assert.equal(net.R[0].commit, 1, 'put X (#1999000001) decided at depth 0');
    net.replies.length = 0; // ...but its reply is lost

    // C3 reads X; C2 overwrites it with Y; C3 reads Y.
    const c2 = client('C2', 0), c3 = client('C3', 0);
    history.push({ client: 'C3', op: 'get', key: 'k', result: run(net, c3, 'get', 'k', undefined, 20), call: 20, ret: 21 });
    assert.equal(history[1].result, '"X"');
    run(net, c2, 'put', 'k', '"Y"', 30);
    history.push({ client: 'C2', op: 'put', key: 'k', value: '"Y"', call: 30, ret: 31 });
    history.push({ client: 'C3', op: 'get', key: 'k', result: run(net, c3, 'get', 'k', undefined, 40), call: 40, ret: 41 });
    assert.equal(history[3].result, '"Y"');

    // The first life's request (#2000000001) finally arrives and takes effect: k = OLD.
    fromClient(net, 1, 'C1', late.msg);
    settle(net);
    // C3 reads OLD.
    history.push({ client: 'C3', op: 'get', key: 'k', result: run(net, c3, 'get', 'k', undefined, 60), call: 60, ret: 61 });
    assert.equal(history[4].result, '"OLD"');

    // C1 times out on put X and retries it (same number, as it must) at P2: each client process
    // has its own session, so the first life's later number does not make it stale: the retry
    // gets put X's original answer, from depth 0.
    const retry = life2.onTick(1500).find((o) => o.msg.kind === 'request')!;
    fromClient(net, retry.to, 'C1', retry.msg);
    settle(net);
    assert.equal(net.replies.filter((r) => r.to === 'C1' && r.msg.kind === 'refused').length, 0, 'the retry is not refused as stale');
    const reply = net.replies.filter((r) => r.to === 'C1' && r.msg.kind === 'reply').pop()!;
    const done = life2.onReply(reply.msg as ClientReply, 1600);
    assert.ok(done && done.result === 'ack' && done.depth === 0, 'answered with the original result and depth');
    history.push({ client: 'C1', op: 'put', key: 'k', value: '"X"', call: xCall, ret: 1600 });
    history.push({ client: 'C3', op: 'get', key: 'k', result: run(net, c3, 'get', 'k', undefined, 1700), call: 1700, ret: 1701 });

    // Replay the decided chain: how many times did C1's one put X take effect?
    const sm = new StateMachine();
    const d = net.R[0].durable;
    let applied = 0;
    for (let i = 0; i < d.commit; i++) {
      const r = sm.apply(d.log[i]);
      const op = d.log[i].operation;
      if (op.client === 'C1' && op.value === '"X"' && !r.duplicate && !r.stale) applied++;
    }
    const lin = checkLinearizable(history);
    assert.deepEqual({ applied, linearizable: lin.ok }, { applied: 1, linearizable: true },
      `C1's single put X took effect ${applied} times (depths of #1999000001 and its renumbered copy); reads saw X, Y, OLD, ${history[6].result}`);
  });
});
