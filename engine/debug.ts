/**
 * Stack traces are for fer-dag's developers, not its users: they are shown only with `--debug` or
 * FER_DAG_DEBUG=1 (the CLI turns the flag into the variable, so stages and worker threads see it too).
 */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.FER_DAG_DEBUG;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** Errors that only a bug raises (a wrong type, a missing name), as opposed to a refusal with a message. */
export function isInternalError(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    error instanceof ReferenceError ||
    error instanceof SyntaxError ||
    error instanceof EvalError ||
    (error instanceof RangeError && /call stack|invalid array length/i.test(error.message)) ||
    (error instanceof Error && error.name === 'AssertionError')
  );
}

export const REPORT_HINT =
  'this is a bug in fer-dag: rerun with --debug (or FER_DAG_DEBUG=1) for the stack trace and report it';

/** The message of an error; its stack too in debug mode; for a bug, a line saying how to report it. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (debugEnabled()) return error.stack ?? error.message;
  return isInternalError(error) ? `${error.message}\n(${REPORT_HINT})` : error.message;
}
