/**
 * Every child program fer-dag starts (a command stage, a synthesizer) runs as the leader of its own process
 * group, so ending it ends its children and grandchildren too. The groups alive in this process are listed
 * here: a forced exit kills them all, and the store lock records them so a later run can end the groups of a
 * run that was killed before it could.
 */
import * as fs from 'node:fs';

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

/**
 * True while any process of the group exists. A zombie (exited, not yet reaped by its new parent) still
 * answers kill(0) but can write nothing, so on Linux the group counts as gone once only zombies are left.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return process.platform !== 'linux' || hasRunningMember(pgid);
}

function hasRunningMember(pgid: number): boolean {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return true;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // it ended while we looked
    }
    // After the command name (which may hold spaces, hence the last ')'): state, ppid, pgrp, …
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/** Resolves true once every one of the groups is gone, false if some are still alive after `timeoutMs`. */
export async function waitGroupsGone(pgids: Iterable<number>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let left = [...pgids];
  for (;;) {
    left = left.filter(groupAlive);
    if (!left.length) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How long processes get to die after SIGKILL before fer-dag reports them as unkillable. */
export const KILL_WAIT_MS = 10_000;

/**
 * Ends the groups as a service manager would: SIGTERM lets each program clean up, SIGKILL after `graceMs`
 * ends what ignored it. Resolves true once all are gone.
 */
export async function endGroups(pgids: number[], graceMs: number): Promise<boolean> {
  signalGroups('SIGTERM', pgids);
  if (await waitGroupsGone(pgids, graceMs)) return true;
  signalGroups('SIGKILL', pgids);
  return waitGroupsGone(pgids, KILL_WAIT_MS);
}

function notify(): void {
  const now = liveGroups();
  for (const listener of listeners) listener(now);
}
