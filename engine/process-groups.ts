/**
 * Every child program fer-dag starts (a command stage, a synthesizer) runs as the leader of its own process
 * group, so ending it ends its children and grandchildren too. The groups alive in this process are listed
 * here: a forced exit kills them all, and the store lock records them so a later run can end the groups of a
 * run that was killed before it could.
 */
const groups = new Set<number>();
const listeners = new Set<(pgids: number[]) => void>();

/** Call right after spawning with `detached: true` (which makes the child a group leader). */
export function registerGroup(pgid: number): void {
  groups.add(pgid);
  notify();
}

export function unregisterGroup(pgid: number): void {
  if (groups.delete(pgid)) notify();
}

export function liveGroups(): number[] {
  return [...groups];
}

/** Called with the whole list whenever it changes (the store lock rewrites its holder record). */
export function onGroupsChanged(listener: (pgids: number[]) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Sends `signal` to every registered group; a group that is already gone is skipped. */
export function signalGroups(signal: NodeJS.Signals, pgids: Iterable<number> = groups): void {
  for (const pgid of pgids) {
    try {
      process.kill(-pgid, signal);
    } catch {
      // ESRCH: the group has ended; EPERM: it is not ours (a recycled id) — leave it alone.
    }
  }
}

/** True while any process of the group exists. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function notify(): void {
  const now = liveGroups();
  for (const listener of listeners) listener(now);
}
