import type { EngineEvent } from '../events.js';
import { eta, eventLine } from './lines.js';

export interface Logger {
  (event: EngineEvent): void;
  close(): void;
}

type Write = (text: string) => void;

/** `--json`: one JSON object a line, every event, for tools. */
export function jsonLogger(write: Write = (t) => process.stdout.write(t)): Logger {
  const logger = ((event: EngineEvent) => write(`${JSON.stringify(event)}\n`)) as Logger;
  logger.close = () => {};
  return logger;
}

interface Progress {
  startedAt: number;
  done: number;
  total: number;
  note?: string;
  printedAt: number;
}

/** Not a terminal (CI, a log file): plain lines, and progress at most every `progressEveryMs` per stage. */
export function plainLogger(write: Write = (t) => process.stdout.write(t), progressEveryMs = 5000): Logger {
  const progress = new Map<string, Progress>();
  const logger = ((event: EngineEvent) => {
    if (event.type === 'stage-progress') {
      const now = Date.now();
      const p = progress.get(event.stage) ?? { startedAt: now, done: 0, total: event.total, printedAt: 0 };
      Object.assign(p, { done: event.done, total: event.total, note: event.note });
      progress.set(event.stage, p);
      if (now - p.printedAt >= progressEveryMs) {
        p.printedAt = now;
        const pct = event.total ? Math.floor((100 * event.done) / event.total) : 0;
        write(
          `  ...      ${event.stage} ${pct}% (${event.done}/${event.total})${eta(p.startedAt, event.done, event.total, now)}${event.note ? ` ${event.note}` : ''}\n`,
        );
      }
      return;
    }
    const line = eventLine(event);
    if (line !== undefined) write(`${line}\n`);
  }) as Logger;
  logger.close = () => {};
  return logger;
}

/** A terminal: the same lines on stdout, with a bar (on stderr) below them: stages done and what is running. */
export function ttyLogger(
  stream: NodeJS.WriteStream = process.stderr,
  write: Write = (t) => process.stdout.write(t),
): Logger {
  let total = 0;
  let finished = 0;
  const running = new Map<string, Progress | undefined>();
  let barShown = false;
  const clear = () => {
    if (barShown) stream.write('\r\x1b[K');
    barShown = false;
  };
  const draw = () => {
    if (!running.size) return;
    const width = 24;
    const filled = total ? Math.round((width * finished) / total) : 0;
    const parts = [...running].map(([name, p]) =>
      p && p.total ? `${name} ${Math.floor((100 * p.done) / p.total)}%${eta(p.startedAt, p.done, p.total)}` : name,
    );
    const text = `▕${'█'.repeat(filled)}${'░'.repeat(width - filled)}▏ ${finished}/${total} · ${parts.join(', ')}`;
    stream.write(text.slice(0, (stream.columns || 100) - 1));
    barShown = true;
  };
  const timer = setInterval(() => {
    clear();
    draw();
  }, 1000);
  timer.unref();
  const logger = ((event: EngineEvent) => {
    clear();
    if (event.type === 'run-start') total = event.stages.length;
    if (event.type === 'stage-start') running.set(event.stage, undefined);
    if (event.type === 'stage-progress') {
      const p = running.get(event.stage) ?? { startedAt: Date.now(), done: 0, total: 0, printedAt: 0 };
      running.set(event.stage, { ...p, done: event.done, total: event.total });
    }
    // A failed gate follows its stage's done or fresh, which already counted the stage as finished.
    const gate = event.type === 'stage-failed' && event.reason === 'check-failed';
    if (
      event.type === 'stage-done' ||
      (event.type === 'stage-failed' && !gate) ||
      event.type === 'stage-fresh' ||
      event.type === 'stage-skipped'
    ) {
      running.delete(event.stage);
      finished++;
    }
    const line = eventLine(event);
    if (line !== undefined) write(`${line}\n`);
    draw();
  }) as Logger;
  logger.close = () => {
    clearInterval(timer);
    clear();
  };
  return logger;
}

export function chooseLogger(json: boolean): Logger {
  if (json) return jsonLogger();
  return process.stderr.isTTY && process.stdout.isTTY ? ttyLogger() : plainLogger();
}
