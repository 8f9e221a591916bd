/**
 * The one console everything is printed to: each line prefixed with the name of the process
 * that printed it (`P1 | ...`), the console's own lines with `**`. With colour (a TTY), each
 * process has its own colour, message traces are dimmed, waiting lines and errors stand out.
 * When an interactive prompt is showing, a line is printed above it and the prompt redrawn.
 */
import { isTraceLine, isWaitingLine, parseResultLine } from './lines';

const PROCESS_COLOURS: Record<string, string> = {
  P1: '36', P2: '32', P3: '33', P4: '34', P5: '35',
  C1: '96', C2: '92', C3: '93',
};
const EXTRA_COLOURS = ['91', '94', '95', '36', '32', '33'];

export type Style = 'plain' | 'dim' | 'bold' | 'warn' | 'error' | 'ok';

const STYLE_CODES: Record<Style, string> = { plain: '', dim: '2', bold: '1', warn: '33;1', error: '31;1', ok: '32;1' };

export const CONSOLE_NAME = '**';

export class Output {
  private width = 2;
  /** Redraws the prompt after a line (set by the interactive console). */
  private redraw: (() => void) | null = null;
  private clearLine = false;
  /** Also sees the console's own lines (the web view's timeline). */
  onInfo: ((text: string, style: Style) => void) | null = null;

  constructor(private readonly write: (s: string) => void, readonly colour: boolean) {}

  /** Pads prefixes to the longest process name. */
  setNames(names: readonly string[]): void {
    this.width = Math.max(2, ...names.map((n) => n.length));
  }

  /** While an interactive prompt is on screen: clear it before each line, redraw it after. */
  setPrompt(redraw: (() => void) | null): void {
    if (!redraw && this.redraw) this.write('\r\x1b[K'); // the prompt goes away for good
    this.redraw = redraw;
    this.clearLine = redraw !== null;
  }

  private paint(code: string, s: string): string {
    return this.colour && code ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  private emit(name: string, nameCode: string, text: string, style: Style): void {
    const prefix = this.paint(nameCode, `${name.padEnd(this.width)} |`);
    const body = text.split('\n').map((l) => `${prefix} ${this.paint(STYLE_CODES[style], l)}`).join('\n');
    this.write(`${this.clearLine ? '\r\x1b[K' : ''}${body}\n`);
    this.redraw?.();
  }

  /** A line a process printed. */
  process(name: string, line: string, stream: 'stdout' | 'stderr'): void {
    let style: Style = 'plain';
    if (stream === 'stderr' || /^error: /.test(line)) style = 'error';
    else if (isWaitingLine(line) || /^no answer for request #/.test(line)) style = 'warn';
    else if (isTraceLine(line)) style = 'dim';
    else if (parseResultLine(line)) style = 'bold';
    this.emit(name, colourOf(name), line, style);
  }

  /** The console's own lines. */
  info(text: string, style: Style = 'plain'): void {
    this.emit(CONSOLE_NAME, '1', text, style);
    this.onInfo?.(text, style);
  }

  warn(text: string): void {
    this.info(text, 'warn');
  }

  error(text: string): void {
    this.info(text, 'error');
  }
}

function colourOf(name: string): string {
  const known = PROCESS_COLOURS[name];
  if (known) return known;
  const n = Number(name.slice(1)) || 0;
  return EXTRA_COLOURS[n % EXTRA_COLOURS.length];
}
