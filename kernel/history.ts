/**
 * The kernel session's input history, for `history_request` (tail, range,
 * search), with IPython's semantics: entries are `[session, line, input]`, or
 * `[session, line, [input, output]]` when output is asked for; `line` is the
 * cell's execution count. Only this session is kept (session number 1; 0 and
 * the number itself mean "this session"; negative numbers, earlier sessions,
 * have nothing).
 */

/** One executed cell. `output` is the text/plain of its execute_result, or null. */
export interface HistoryEntry {
  line: number;
  input: string;
  output: string | null;
}

/** What history_request asks (spec 5.3 `history_request` content). */
export interface HistoryQuery {
  hist_access_type: 'tail' | 'range' | 'search';
  output?: boolean;
  raw?: boolean;
  session?: number;
  start?: number;
  stop?: number;
  n?: number | null;
  pattern?: string;
  unique?: boolean;
}

/** A history_reply `history` item. */
export type HistoryItem = [number, number, string | [string, string | null]];

/** The number this kernel reports as its session. */
export const SESSION_NUMBER = 1;

export class History {
  private readonly entries: HistoryEntry[] = [];

  /** Record a cell (called once per stored execution). */
  add(line: number, input: string, output: string | null = null): void {
    this.entries.push({ line, input, output });
  }

  get length(): number {
    return this.entries.length;
  }

  /** Answer a history_request; unknown access types give an empty list. */
  query(q: HistoryQuery): HistoryItem[] {
    const rows = this.select(q);
    return rows.map((e) => [SESSION_NUMBER, e.line, q.output ? [e.input, e.output] : e.input]);
  }

  private select(q: HistoryQuery): HistoryEntry[] {
    switch (q.hist_access_type) {
      case 'tail':
        return q.n === undefined || q.n === null ? this.entries.slice(-10) : q.n > 0 ? this.entries.slice(-q.n) : [];
      case 'range': {
        const session = q.session ?? 0;
        if (session !== 0 && session !== SESSION_NUMBER) return [];
        const start = q.start ?? 1;
        const stop = q.stop || Infinity; // IPython: stop None (or 0) = to the end
        return this.entries.filter((e) => e.line >= start && e.line < stop);
      }
      case 'search': {
        const re = globToRegExp(q.pattern ?? '*');
        let hits = this.entries.filter((e) => re.test(e.input));
        if (q.unique) {
          // Keep the latest occurrence of each input, in history order.
          const last = new Map<string, HistoryEntry>();
          for (const e of hits) last.set(e.input, e);
          hits = hits.filter((e) => last.get(e.input) === e);
        }
        return q.n === undefined || q.n === null ? hits : q.n > 0 ? hits.slice(-q.n) : [];
      }
      default:
        return [];
    }
  }
}

/**
 * A glob as SQLite's GLOB reads it (what IPython's history search uses): the
 * whole input must match; `*` any run, `?` one character, `[...]` a class
 * (`[^...]` or `[!...]` negated); case-sensitive; newlines are ordinary.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith('^') || body.startsWith('!');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
