/**
 * A terminal progress bar on stderr with count, rate and ETA. On a terminal it redraws one line
 * (\r, at most 10 times a second, fitted to the width); when stderr is not a terminal but
 * `--progress` was given it writes a plain line at most once a second, so logs stay readable.
 * The final line is always written when the bar is enabled.
 *
 * @module
 */

export class Progress {
  private done = 0;
  private readonly started = performance.now();
  private lastDraw = 0;
  private readonly tty: boolean;
  private finished = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
    private readonly total: number,
    private readonly unit: string,
    private readonly enabled: boolean,
  ) {
    this.tty = Boolean(stream.isTTY);
    // The first line after a short moment: a quick job shows only its final line.
    this.lastDraw = this.started;
  }

  /** Counts `n` more items done. */
  tick(n = 1): void {
    this.done += n;
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw >= (this.tty ? 100 : 1000)) {
      this.lastDraw = now;
      this.draw(false);
    }
  }

  /** Writes the final line (once). */
  finish(): void {
    if (!this.enabled || this.finished) return;
    this.finished = true;
    this.draw(true);
  }

  /** The line as it would be drawn now (for tests and the final line). */
  render(width: number): string {
    const seconds = (performance.now() - this.started) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    const remaining = this.total - this.done;
    const eta = this.done >= this.total ? `in ${formatDuration(seconds)}` : rate > 0 ? `ETA ${formatDuration(remaining / rate)}` : 'ETA --';
    const pct = this.total > 0 ? Math.floor((100 * this.done) / this.total) : 100;
    const text = `${this.done}/${this.total} ${this.unit} ${pct}% ${formatRate(rate)} ${this.unit}/s ${eta}`;
    const barWidth = Math.max(0, Math.min(30, width - this.label.length - text.length - 5));
    if (barWidth < 5) return `${this.label} ${text}`.slice(0, Math.max(width, 20));
    const filled = this.total > 0 ? Math.round((barWidth * Math.min(this.done, this.total)) / this.total) : barWidth;
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${text}`;
  }

  private draw(final: boolean): void {
    const width = (this.tty ? this.stream.columns : undefined) || 100;
    const line = this.render(width - 1);
    if (this.tty) this.stream.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else this.stream.write(line + '\n');
  }
}

function formatRate(rate: number): string {
  if (rate >= 100) return Math.round(rate).toString();
  if (rate >= 10) return rate.toFixed(1);
  return rate.toFixed(2);
}

/** 3.2s, 1m05s, 2h03m */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`.replace(/^0m/, '');
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
