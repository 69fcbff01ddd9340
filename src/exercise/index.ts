/**
 * `gl.exercise`: exercises whose answers are checked in the notebook.
 *
 * ```ts
 * gl.exercise.check('1.1-a', answer, expected, { hint: '...' });
 * gl.exercise.summary();   // { correct, wrong, unanswered, results }
 * ```
 */
export { check, summary, reset, resultBundle } from './check';
export type { CheckOptions, ExerciseResult, ExerciseSummary } from './check';
