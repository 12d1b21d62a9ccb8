import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
}

export class StoreLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly holder: LockHolder,
  ) {
    super(
      `the store ${path.dirname(lockFile)} is in use by pid ${holder.pid} on ${holder.host} ` +
        `(${holder.command}, started ${holder.startedAt}).\n` +
        `Wait for it to finish, or pass --wait to queue behind it. If that process is gone, delete ${lockFile}.`,
    );
    this.name = 'StoreLockedError';
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(lockFile: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(lockFile, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * One writer per store. The lock file is created with O_EXCL, so two processes cannot both take it; a lock
 * left by a process that no longer exists on this host (a SIGKILLed run) is taken over.
 */
export class StoreLock {
  private held = false;

  constructor(
    readonly lockFile: string,
    private readonly command: string,
  ) {}

  /** Takes the lock; with `waitMs` > 0 polls until the holder finishes, else fails at once. */
  async acquire(waitMs = 0, onWait?: (holder: LockHolder) => void): Promise<void> {
    const deadline = Date.now() + waitMs;
    let announced = false;
    fs.mkdirSync(path.dirname(this.lockFile), { recursive: true });
    for (;;) {
      const holder = this.tryTake();
      if (!holder) return;
      if (Date.now() >= deadline) throw new StoreLockedError(this.lockFile, holder);
      if (!announced) onWait?.(holder);
      announced = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  release(): void {
    if (!this.held) return;
    const holder = readHolder(this.lockFile);
    if (holder?.pid === process.pid) fs.rmSync(this.lockFile, { force: true });
    this.held = false;
  }

  /** Returns undefined when the lock was taken, else who holds it. */
  private tryTake(): LockHolder | undefined {
    const me: LockHolder = { pid: process.pid, host: os.hostname(), command: this.command, startedAt: new Date().toISOString() };
    // The holder's details are written first and linked into place: link fails if the lock exists, and a
    // reader never sees a lock file without its contents.
    const temp = `${this.lockFile}.${process.pid}`;
    fs.writeFileSync(temp, JSON.stringify(me));
    try {
      fs.linkSync(temp, this.lockFile);
      this.held = true;
      return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.rmSync(temp, { force: true });
    }
    const holder = readHolder(this.lockFile);
    if (!holder) return this.tryTake(); // released between our link and read
    if (holder.host === os.hostname() && !processAlive(holder.pid)) {
      // The holder died without releasing (killed). Renaming the stale file aside is atomic, so only one
      // of several processes noticing the stale lock removes it; the rest retry the O_EXCL create.
      const aside = `${this.lockFile}.stale-${process.pid}`;
      try {
        fs.renameSync(this.lockFile, aside);
        const moved = readHolder(aside);
        fs.rmSync(aside, { force: true });
        if (moved && moved.pid !== holder.pid) {
          // Someone else took the lock between our read and rename; put theirs back.
          fs.writeFileSync(this.lockFile, JSON.stringify(moved), { flag: 'wx' });
        }
      } catch {
        // Another process handled it first.
      }
      return this.tryTake();
    }
    return holder;
  }
}
