/**
 * `npm run verify -- --data-dir DIR`: verifies a node's data folder (chain.log and blocks.dat)
 * in constant memory, with progress on long runs, and names the first bad block. Read only.
 */
import { verifyDataDir, verifyText } from '../store/verify-files';
import { commandLine, EXIT, ExitError, OptionSpec, runCli, UsageError } from './args';

const OPTIONS: OptionSpec[] = [
  { name: 'data-dir', type: 'string', arg: 'DIR', help: "the node's folder (e.g. persist/P1)" },
  { name: 'json', short: 'j', type: 'flag', help: 'print the result as one JSON line (progress goes to stderr)' },
];

function main(): void {
  const args = commandLine(process.argv.slice(2), OPTIONS, 'usage: npm run verify -- --data-dir DIR [--json]',
    "Verifies a node's chain.log and blocks.dat (checksums, hash pointers, proof of work, one chain in both) and its checkpoints (their dictionary and sessions against the chain's), streaming in memory that does not grow with the chain, and names the first bad block or checkpoint. Reads only; safe on a running node's folder. Exit code 0 when all verifies, 1 when something is bad.");
  if (!args) return;
  if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"`);
  const dir = args.values.get('data-dir') as string | undefined;
  if (!dir) throw new UsageError('--data-dir DIR is required');
  const json = !!args.values.get('json');
  const r = verifyDataDir(dir, {
    progress: (p) => process.stderr.write(`verify: ${p.file} ${Math.round((100 * p.bytes) / Math.max(1, p.total))}% (${(p.bytes / 2 ** 20).toFixed(0)} of ${(p.total / 2 ** 20).toFixed(0)} MiB), ${p.blocks} blocks\n`),
  });
  process.stdout.write((json ? JSON.stringify(r) : verifyText(r)) + '\n');
  if (!r.ok) throw new ExitError(`${dir} does not verify: ${r.firstBad!.file}${r.firstBad!.depth !== null ? ` block ${r.firstBad!.depth}` : ''}`, EXIT.FAILED);
}

runCli('verify', main);
