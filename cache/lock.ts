import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { liveGroups, onGroupsChanged, signalGroups, waitGroupsGone, KILL_WAIT_MS } from '../lib/process-groups.js';

/** A process group the holder started (a command stage, a synthesizer), with its leader's start time. */
export interface HolderGroup {
  pgid: number;
  /** The leader's start time in clock ticks since boot (Linux), to tell the group from a later one with the same id. */
  leaderStart?: string;
}

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
  /** This boot of the host (Linux): after a reboot none of the holder's processes can be alive. */
  bootId?: string;
  /** The holder's live process groups, rewritten as they come and go. */
  groups?: HolderGroup[];
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

export class OrphanGroupsError extends Error {}

function readProc(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const bootId = () => readProc('/proc/sys/kernel/random/boot_id');

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
function processStart(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/**
 * Whether a group recorded by a dead holder may still be that holder's. While any process of a group lives,
 * Linux does not hand its id to a new process, so only a live leader with another start time is a stranger.
 */
function stillTheirs(group: HolderGroup, holder: LockHolder): boolean {
  const now = bootId();
  if (holder.bootId && now && holder.bootId !== now) return false;
  const start = processStart(group.pgid);
  return group.leaderStart === undefined || start === undefined || start === group.leaderStart;
}

/**
 * Ends what a killed holder left running (SIGKILL to each recorded group) and waits until it is gone, so
 * no orphan of the dead run can write into outs this run is about to produce and hash.
 */
async function endDeadHoldersGroups(lockFile: string, holder: LockHolder): Promise<void> {
  const pgids = (holder.groups ?? []).filter((g) => stillTheirs(g, holder)).map((g) => g.pgid);
  if (!pgids.length) return;
  signalGroups('SIGKILL', pgids);
  if (!(await waitGroupsGone(pgids, KILL_WAIT_MS))) {
    throw new OrphanGroupsError(
      `the store ${path.dirname(lockFile)} was held by pid ${holder.pid}, which is gone, but processes of its ` +
        `process group(s) ${pgids.join(', ')} are still alive after SIGKILL; end them ` +
        '(ps -eo pid,pgid,stat,args) and run again.',
    );
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
  private me: LockHolder | undefined;
  private stopRecording: (() => void) | undefined;

  constructor(
    readonly lockFile: string,
    private readonly command: string,
  ) {}

  /** Takes the lock; with `waitMs` > 0 polls until the holder finishes (or `signal` aborts), else fails at once. */
  async acquire(waitMs = 0, onWait?: (holder: LockHolder) => void, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + waitMs;
    let announced = false;
    fs.mkdirSync(path.dirname(this.lockFile), { recursive: true });
    for (;;) {
      const holder = await this.tryTake();
      if (!holder) return;
      if (Date.now() >= deadline || signal?.aborted) throw new StoreLockedError(this.lockFile, holder);
      if (!announced) onWait?.(holder);
      announced = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  release(): void {
    if (!this.held) return;
    this.stopRecording?.();
    this.stopRecording = undefined;
    const holder = readHolder(this.lockFile);
    if (holder?.pid === process.pid) fs.rmSync(this.lockFile, { force: true });
    this.held = false;
  }

  /** Rewrites the holder record with the current groups: written aside and renamed, so readers see old or new. */
  private record(pgids: number[]): void {
    if (!this.held || !this.me) return;
    const groups = pgids.map((pgid) => ({ pgid, leaderStart: processStart(pgid) }));
    const next = `${this.lockFile}.${process.pid}.next`;
    try {
      fs.writeFileSync(next, JSON.stringify({ ...this.me, groups }));
      fs.renameSync(next, this.lockFile);
    } catch {
      // The store folder went away under us: the run fails on its own; a missing record only means a later
      // run cannot end this run's groups, which then end with the run.
      fs.rmSync(next, { force: true });
    }
  }

  /** Returns undefined when the lock was taken, else who holds it. */
  private async tryTake(): Promise<LockHolder | undefined> {
    const me: LockHolder = {
      pid: process.pid,
      host: os.hostname(),
      command: this.command,
      startedAt: new Date().toISOString(),
      bootId: bootId(),
      groups: [],
    };
    // The holder's details are written first and linked into place: link fails if the lock exists, and a
    // reader never sees a lock file without its contents.
    const temp = `${this.lockFile}.${process.pid}`;
    fs.writeFileSync(temp, JSON.stringify(me));
    try {
      fs.linkSync(temp, this.lockFile);
      this.held = true;
      this.me = me;
      this.stopRecording = onGroupsChanged((pgids) => this.record(pgids));
      if (liveGroups().length) this.record(liveGroups());
      return undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      fs.rmSync(temp, { force: true });
    }
    const holder = readHolder(this.lockFile);
    if (!holder) return this.tryTake(); // released between our link and read
    if (holder.host === os.hostname() && !processAlive(holder.pid)) {
      await endDeadHoldersGroups(this.lockFile, holder);
      // What the killed holder may have had half-written beside the lock (its claim, a record rewrite).
      const litter = [`${this.lockFile}.${holder.pid}`, `${this.lockFile}.${holder.pid}.next`];
      for (const file of litter) fs.rmSync(file, { force: true });
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
