/**
 * The one place messages become bytes and bytes become messages.
 *
 * Wire format: UTF-8 JSON of an envelope `{ from, body: { kind, ... } }`. The body is a
 * message class turned into a plain object by class-transformer (`instanceToPlain`), and back
 * into its class (`plainToInstance`) chosen by `kind`: a table lookup rather than
 * class-transformer's discriminator, which costs about a third more per message and would
 * turn an unknown kind into the base class silently.
 * Decoding never throws: a frame that is too large, not JSON, of an unknown kind, or with a
 * missing or mistyped field yields `{ ok: false, reason }`, and the caller drops it.
 */
import 'reflect-metadata';
import { instanceToPlain, plainToInstance } from 'class-transformer';
import { AnyMessage, MESSAGE_CLASSES } from './kinds';
import { validate } from './schema';

/** Largest frame accepted (a full repair batch of large values fits well below it). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const CLASS_BY_KIND = new Map<string, new () => AnyMessage>(
  MESSAGE_CLASSES.map((ctor) => [new ctor().kind, ctor as new () => AnyMessage]),
);

export type Decoded = { ok: true; from: string; msg: AnyMessage } | { ok: false; from?: string; reason: string };

/**
 * The frame as a string, not a Buffer: zeromq.js sends a Buffer above 128 bytes without
 * copying and must then release it on the main thread, which costs one more wake-up of the
 * event loop per send; a string is copied once into the message and freed wherever ZeroMQ is
 * done with it (about 10 µs less CPU per message here, see the bench's message floor).
 */
export function encode(from: string, msg: AnyMessage): string {
  return JSON.stringify({ from, body: instanceToPlain(msg) });
}

export function decode(frame: Buffer | Uint8Array | string): Decoded {
  const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
  if (size > MAX_FRAME_BYTES) return { ok: false, reason: `frame of ${size} bytes exceeds ${MAX_FRAME_BYTES}` };
  let raw: unknown;
  try {
    raw = JSON.parse(typeof frame === 'string' ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('utf8'));
  } catch (e) {
    return { ok: false, reason: `invalid JSON (${(e as Error).message})` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'frame is not a JSON object' };
  const obj = raw as { from?: unknown; body?: unknown };
  const from = typeof obj.from === 'string' ? obj.from : undefined;
  if (from === undefined || from.length === 0 || from.length > 64) return { ok: false, reason: 'missing or invalid sender' };
  // A sender name is printed in every log line about the frame: no terminal escapes in it.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(from)) return { ok: false, reason: 'sender name contains a control character' };
  if (typeof obj.body !== 'object' || obj.body === null || Array.isArray(obj.body)) return { ok: false, from, reason: 'missing message body' };
  const kind = (obj.body as { kind?: unknown }).kind;
  const ctor = typeof kind === 'string' ? CLASS_BY_KIND.get(kind) : undefined;
  // class-transformer would silently turn an unknown kind into the base class: refuse it here.
  if (!ctor) return { ok: false, from, reason: `unknown message kind ${JSON.stringify(kind)}` };
  // Check the raw JSON: after plainToInstance a missing field would look like its default.
  const err = validate(obj.body, ctor);
  if (err) return { ok: false, from, reason: `bad ${kind}: ${err}` };
  let msg: AnyMessage;
  try {
    msg = plainToInstance(ctor, obj.body);
  } catch (e) {
    return { ok: false, from, reason: `cannot build ${kind}: ${(e as Error).message}` };
  }
  if (!(msg instanceof ctor)) return { ok: false, from, reason: `${kind} did not decode to ${ctor.name}` };
  return { ok: true, from, msg };
}
