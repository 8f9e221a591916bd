/**
 * A tiny field schema for message classes: one decorator per field declares both how
 * class-transformer builds it (`@Type` for nested classes) and how the decoder checks it.
 * Decoding is strict: a frame whose fields are missing or mistyped is rejected as a whole.
 */
import 'reflect-metadata';
import { Type } from 'class-transformer';

type Ctor = new () => object;
export type FieldKind =
  | { kind: 'string'; optional: boolean; maxLength: number }
  | { kind: 'int'; optional: boolean; min: number }
  | { kind: 'enum'; optional: boolean; values: readonly string[] }
  | { kind: 'nested'; optional: boolean; ctor: () => Ctor }
  | { kind: 'array'; optional: boolean; ctor: () => Ctor; maxItems: number };

const FIELDS = Symbol('chainkv:fields');

function register(target: object, key: string, spec: FieldKind): void {
  const own: Map<string, FieldKind> = Reflect.getOwnMetadata(FIELDS, target) ?? new Map(Reflect.getMetadata(FIELDS, target) ?? []);
  own.set(key, spec);
  Reflect.defineMetadata(FIELDS, own, target);
}

/** Longest string any field may hold (values are small JSON documents). */
export const MAX_STRING = 64 * 1024;
/** Most blocks one message may carry (repair batches are cut to this). */
export const MAX_BLOCKS = 4096;

export const field = {
  string: (opts: { optional?: boolean; maxLength?: number } = {}) => (t: object, k: string) =>
    register(t, k, { kind: 'string', optional: !!opts.optional, maxLength: opts.maxLength ?? MAX_STRING }),
  int: (opts: { optional?: boolean; min?: number } = {}) => (t: object, k: string) =>
    register(t, k, { kind: 'int', optional: !!opts.optional, min: opts.min ?? 0 }),
  oneOf: (values: readonly string[], opts: { optional?: boolean } = {}) => (t: object, k: string) =>
    register(t, k, { kind: 'enum', optional: !!opts.optional, values }),
  nested: (ctor: () => Ctor, opts: { optional?: boolean } = {}) => (t: object, k: string) => {
    Type(ctor)(t, k);
    register(t, k, { kind: 'nested', optional: !!opts.optional, ctor });
  },
  array: (ctor: () => Ctor, opts: { optional?: boolean; maxItems?: number } = {}) => (t: object, k: string) => {
    Type(ctor)(t, k);
    register(t, k, { kind: 'array', optional: !!opts.optional, ctor, maxItems: opts.maxItems ?? MAX_BLOCKS });
  },
};

/**
 * Returns null when `value` — the parsed JSON, before class-transformer fills in defaults —
 * has every field of `ctor`'s schema with the right type, else the reason. Optional fields that
 * are null are removed from `value` (their defaults then apply).
 */
export function validate(value: unknown, ctor: Ctor, path = ''): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path || 'message'} is not an object`;
  const fields: Map<string, FieldKind> | undefined = Reflect.getMetadata(FIELDS, ctor.prototype);
  if (!fields) return null; // a kind with no fields (LeaderRequest)
  const rec = value as Record<string, unknown>;
  for (const [key, spec] of fields) {
    const v = rec[key];
    const where = path ? `${path}.${key}` : key;
    if (v === undefined || v === null) {
      // A null optional field is dropped, so the class's default stands (else the null would reach
      // code that relies on the declared type).
      if (spec.optional) {
        delete rec[key];
        continue;
      }
      return `missing field ${where}`;
    }
    switch (spec.kind) {
      case 'string':
        if (typeof v !== 'string') return `${where} must be a string`;
        if (v.length > spec.maxLength) return `${where} is longer than ${spec.maxLength}`;
        break;
      case 'int':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < spec.min) return `${where} must be an integer >= ${spec.min}`;
        break;
      case 'enum':
        if (typeof v !== 'string' || !spec.values.includes(v)) return `${where} must be one of ${spec.values.join('|')}`;
        break;
      case 'nested': {
        const err = validate(v, spec.ctor(), where);
        if (err) return err;
        break;
      }
      case 'array': {
        if (!Array.isArray(v)) return `${where} must be an array`;
        if (v.length > spec.maxItems) return `${where} has more than ${spec.maxItems} items`;
        for (let i = 0; i < v.length; i++) {
          const err = validate(v[i], spec.ctor(), `${where}[${i}]`);
          if (err) return err;
        }
        break;
      }
    }
  }
  return null;
}
