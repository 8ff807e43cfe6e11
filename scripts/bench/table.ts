/** A tiny plain-text table formatter (no dependency): padded columns, a rule under the header. */

export type Align = 'left' | 'right';

export interface TableOptions {
  /** Per column; default: first column left, the others right (numbers). */
  align?: readonly Align[];
  /** Spaces between columns (default 2). */
  gap?: number;
  /** Prefix of every line (default ''). */
  indent?: string;
}

/** Width in terminal cells; counts code points so that "µs" is 2 wide. */
function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, size - width(text)));
  return align === 'left' ? text + fill : fill + text;
}

/** Header, a rule of dashes, then the rows; every line without trailing spaces. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, options: TableOptions = {}): string {
  const gap = ' '.repeat(options.gap ?? 2);
  const indent = options.indent ?? '';
  const columns = Math.max(header.length, ...rows.map((r) => r.length));
  const cell = (row: readonly string[], c: number) => row[c] ?? '';
  const widths = Array.from({ length: columns }, (_, c) => Math.max(width(cell(header, c)), ...rows.map((r) => width(cell(r, c)))));
  const alignOf = (c: number): Align => options.align?.[c] ?? (c === 0 ? 'left' : 'right');
  const line = (row: readonly string[]) =>
    (indent + widths.map((w, c) => pad(cell(row, c), w, alignOf(c))).join(gap)).trimEnd();
  const rule = indent + widths.map((w) => '-'.repeat(w)).join(gap);
  return [line(header), rule, ...rows.map(line)].join('\n');
}
