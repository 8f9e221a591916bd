/**
 * Replays a scenario file (see parseScript in ./commands) line by line through the executor:
 * each line is echoed, then run; the first check that fails (or command that cannot be done, or
 * process that crashes) stops the script with a message naming the file and line.
 */
import { Cluster } from './cluster';
import { Script } from './commands';
import { CheckFailed, CommandError, Executor } from './executor';
import { Output } from './output';

export type ScriptOutcome =
  | { ok: true; steps: number; checks: number; ms: number }
  | { ok: false; at: string; line: string; message: string; ms: number };

export async function runScript(script: Script, ex: Executor, cluster: Cluster, out: Output): Promise<ScriptOutcome> {
  const t0 = Date.now();
  let checks = 0;
  let steps = 0;
  for (const step of script.steps) {
    const at = `${script.file}:${step.line}`;
    out.info(`${at} (${((Date.now() - t0) / 1000).toFixed(1)} s)> ${step.text}`, 'bold');
    try {
      steps++;
      const r = await ex.line(step.text);
      if (/^(expect|wait-leader)\b/i.test(step.text)) checks++;
      if (r === 'quit') break;
    } catch (e) {
      if (e instanceof CheckFailed || e instanceof CommandError) {
        return { ok: false, at, line: step.text, message: e.message, ms: Date.now() - t0 };
      }
      throw e;
    }
    if (cluster.unexpectedExit) return { ok: false, at, line: step.text, message: cluster.unexpectedExit, ms: Date.now() - t0 };
  }
  return { ok: true, steps, checks, ms: Date.now() - t0 };
}
