/**
 * Which kinds of message each kind of sender may send, once the sender is known (in secure
 * mode: authenticated by the frame's MAC). A holder of a node key is trusted with everything a
 * node does (the protocol tolerates crashes, not lies); a client key may only ask for its own
 * operations and for an election; only nodes answer clients.
 */
import { AnyMessage, ClientRequest } from '../../messages';

/** Client -> node. */
const FROM_CLIENT: ReadonlySet<string> = new Set(['request', 'leader']);
/** Node -> client. */
const TO_CLIENT: ReadonlySet<string> = new Set(['reply', 'no-leader', 'refused', 'redirect']);
/** Node -> node. */
const BETWEEN_NODES: ReadonlySet<string> = new Set(['forward', 'prepare', 'promise', 'nack', 'accept', 'accepted', 'decide', 'repair-request', 'repair', 'install-request', 'install-chunk', 'backfill-request', 'backfill']);

/** Why this process (a node or a client) must not act on `msg` from `from`, or null. */
export function refusal(selfIsNode: boolean, from: string, fromIsNode: boolean, msg: AnyMessage): string | null {
  if (!selfIsNode) return fromIsNode && TO_CLIENT.has(msg.kind) ? null : `a client takes only answers from nodes, not ${msg.kind} from ${fromIsNode ? 'a node' : 'a client'}`;
  if (fromIsNode) return BETWEEN_NODES.has(msg.kind) ? null : `a node does not send ${msg.kind} to a node`;
  if (!FROM_CLIENT.has(msg.kind)) return `a client may not send ${msg.kind} (a node's message)`;
  if (msg.kind === 'request' && (msg as ClientRequest).pending.operation.client !== from) return 'a client may only send requests in its own name';
  return null;
}
