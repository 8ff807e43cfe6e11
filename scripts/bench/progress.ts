/**
 * The progress line on stderr: rewritten in place on a terminal, one plain
 * line per update when piped (so CI logs stay readable).
 */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private active = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly quiet: boolean,
  ) {}

  update(text: string): void {
    if (this.quiet) return;
    if (!this.stream.isTTY) {
      this.stream.write(`${text}\n`);
      return;
    }
    // A wrapped line cannot be rewritten with \r; some terminals report no (or a silly) width.
    const columns = this.stream.columns && this.stream.columns >= 40 ? this.stream.columns : 120;
    const max = columns - 1;
    this.stream.write(`\r${text.length > max ? `${text.slice(0, max - 3)}...` : text}\x1b[K`);
    this.active = true;
  }

  /** A line that stays (a warning), printed above the progress line. */
  note(text: string): void {
    if (this.quiet) return;
    this.clear();
    this.stream.write(`${text}\n`);
  }

  /** Removes the progress line before the report is printed. */
  clear(): void {
    if (this.active) this.stream.write('\r\x1b[K');
    this.active = false;
  }
}
