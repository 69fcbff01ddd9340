/**
 * Ask the person at the notebook for a line of text, synchronously, as Python's
 * `input()` does in Jupyter.
 *
 * ```ts
 * const lr = Number(gl.input('学习率 (learning rate)? '));   // an input box under the cell
 * const name = prompt('your name?');                         // the same, the browser's way
 * ```
 *
 * In the gradlab kernel the question goes to the front end as an `input_request`
 * (Jupyter's stdin channel) and the cell waits for the answer; an interrupt ends
 * the wait. When the front end does not take input (nbconvert, `npm start`: their
 * requests say `allow_stdin: false`), the call fails at once with a
 * `StdinNotImplementedError` instead of hanging. Outside a kernel (a plain Node
 * script) it reads a line from standard input. The kernel also routes Node's
 * `readline` `question()` on `process.stdin` and the global `prompt()` here.
 */
import * as fs from 'fs';

/** The global key the gradlab kernel registers its input function under. */
export const INPUT_KEY = Symbol.for('gradlab.input');

/** Options of {@link input}. */
export interface InputOptions {
  /** Ask the front end to hide what is typed (Jupyter's `password: true`). Default false. */
  password?: boolean;
}

type InputHook = (prompt: string, options: InputOptions) => string;

declare global {
  /**
   * The line the person types, after showing `message` (the gradlab kernel asks the
   * front end; see gl.input). `defaultValue` is returned for an empty answer.
   */
  function prompt(message?: string, defaultValue?: string): string | null;
}

/**
 * The line typed in answer to `prompt` (without its newline).
 *
 * @throws StdinNotImplementedError in a kernel whose front end does not take input.
 */
export function input(prompt = '', options: InputOptions = {}): string {
  const hook = (globalThis as Record<symbol, unknown>)[INPUT_KEY];
  if (typeof hook === 'function') return (hook as InputHook)(String(prompt), options);
  return readLineSync(String(prompt));
}

/** Outside a kernel: write the prompt and read one line from file descriptor 0 ('' at end of input). */
function readLineSync(prompt: string): string {
  if (prompt) fs.writeSync(1, prompt);
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, one, 0, 1, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EOF') break;
      throw e;
    }
    if (n === 0 || one[0] === 0x0a) break;
    bytes.push(one[0]!);
  }
  return Buffer.from(bytes).toString('utf8').replace(/\r$/, '');
}
