/**
 * `npm run keys -- COMMAND`: the cluster's CurveZMQ key set (src/security/keys.ts).
 *
 *   new            make a new key set for every process in the cluster file (replaces the old
 *                  one only with --force: every process must then get the new keys)
 *   add NAME       add a key pair for one more identity (a client outside the cluster file)
 *   list           the identities and their public keys; says which secret keys are here
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { commandLine, configFromArgs, ExitError, EXIT, OptionSpec, runCli, UsageError } from './args';
import { addIdentity, createKeySet, KeyError, KeyRing, publicPath, secretPath } from '../security/keys';

const OPTIONS: OptionSpec[] = [
  { name: 'config', short: 'c', type: 'string', arg: 'FILE', help: 'cluster file (default: nodes.ini in the project folder); its [security] keys_dir says where the keys are' },
  { name: 'dir', type: 'string', arg: 'DIR', help: 'the key folder (default: from the cluster file, `keys` beside it)' },
  { name: 'force', type: 'flag', help: 'new: replace an existing key set' },
];

const ABOUT = `Manages the cluster's CurveZMQ key set: public/NAME.pub (every process reads all of them)
and secret/NAME.key (mode 0600, only on NAME's machine).

Commands:
  new         make a key set for every process in the cluster file
  add NAME    add a key pair for another client identity (the nodes pick it up without a restart)
  list        show the identities, their public keys, and which secret keys are in this folder

For a cluster on several hosts: run "new" once, copy the whole public/ folder to every host, and
each secret/NAME.key only to the host that runs NAME (keep it mode 0600).`;

const ROOT = path.resolve(__dirname, '..', '..', '..');

async function main(): Promise<void> {
  const args = commandLine(process.argv.slice(2), OPTIONS, 'usage: npm run keys -- new|add NAME|list [options]', ABOUT);
  if (!args) return;
  const [cmd, ...rest] = args.positional;
  if (!cmd) throw new UsageError('give a command: new, add NAME or list');
  const config = configFromArgs(args, ROOT);
  const dir = path.resolve((args.values.get('dir') as string | undefined) ?? config.keysDir);
  const names = [...config.nodes, ...config.clients].map((e) => e.name);
  try {
    switch (cmd) {
      case 'new': {
        if (rest.length > 0) throw new UsageError(`"new" takes no argument (got "${rest[0]}")`);
        if (fs.existsSync(dir)) {
          if (!args.values.get('force')) throw new ExitError(`${dir} exists already; add --force to replace it (every process then needs the new keys)`, EXIT.FAILED);
          const old = `${dir}.old-${new Date().toISOString().replace(/[:.]/g, '-')}`;
          fs.renameSync(dir, old);
          process.stdout.write(`moved the old key set to ${old}\n`);
        }
        if (!createKeySet(dir, names)) throw new ExitError(`${dir} was created by another process meanwhile; nothing changed`, EXIT.FAILED);
        process.stdout.write(`made a key set for ${names.join(', ')} in ${dir}\n`);
        return;
      }
      case 'add': {
        if (rest.length !== 1) throw new UsageError('"add" takes one identity name, e.g. add C4');
        const key = addIdentity(dir, rest[0]);
        process.stdout.write(`added ${rest[0]}: public key ${key} (${publicPath(dir, rest[0])}; secret ${secretPath(dir, rest[0])}, mode 0600)\n`);
        return;
      }
      case 'list': {
        if (rest.length > 0) throw new UsageError(`"list" takes no argument (got "${rest[0]}")`);
        if (!fs.existsSync(path.join(dir, 'public'))) throw new ExitError(`no key set at ${dir} (make one with: npm run keys -- new)`, EXIT.FAILED);
        const files = fs.readdirSync(path.join(dir, 'public')).filter((f) => f.endsWith('.pub')).sort();
        for (const f of files) {
          const name = f.slice(0, -4);
          let state = 'no secret key here';
          if (fs.existsSync(secretPath(dir, name))) {
            try {
              KeyRing.load(dir, name);
              state = 'secret key here (checked)';
            } catch (e) {
              state = `secret key here but: ${(e as Error).message}`;
            }
          }
          const pub = fs.readFileSync(path.join(dir, 'public', f), 'utf8').trim().slice(0, 40);
          process.stdout.write(`${name.padEnd(8)} ${pub}  ${state}${names.includes(name) ? '' : ' (not in the cluster file)'}\n`);
        }
        for (const n of names) if (!files.includes(`${n}.pub`)) process.stdout.write(`${n.padEnd(8)} MISSING: no ${publicPath(dir, n)}\n`);
        return;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"; expected new, add NAME or list`);
    }
  } catch (e) {
    if (e instanceof KeyError) throw new ExitError(e.message, EXIT.FAILED);
    throw e;
  }
}

runCli('keys', main);
