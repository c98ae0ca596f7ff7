/**
 * A lock on an output folder, so that two runs never write into one folder at once: the file
 * `<dir>/.wasmformers.lock` names the process that holds it (pid, start time, a random token).
 * It appears whole and only if absent (written under a temporary name, then hard-linked, which
 * fails if the lock exists). A lock whose process has ended (a run killed outright) is stale and
 * taken over; the lock is removed when the run ends, or, in a rank thread of msrun_launcher, by
 * the launcher when the job ends.
 */
import { randomUUID } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeFolders, processAlive, removedAtJobEnd, temporaryName } from '../io/atomic.ts';

/** The lock's file name in the folder it locks. */
export const LOCK_FILE = '.wasmformers.lock';

/** What the lock file holds. */
interface LockOwner {
  pid: number;
  /** when it was taken (ISO 8601) */
  since: string;
  token: string;
}

/** The lock at `path`, or undefined if there is none (or it is not one). */
function readLock(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8'));
    return Number.isInteger(owner?.pid) && typeof owner.token === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the lock at `path` holding `owner`; false if a lock is there already. */
function create(path: string, owner: LockOwner): boolean {
  const tmp = temporaryName(path);
  writeFileSync(tmp, JSON.stringify(owner) + '\n');
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Removes the stale lock `stale` from `path`: it is moved aside first, and put back if what was
 * moved is not it (another run took the folder over in between).
 */
function removeStale(path: string, stale: LockOwner | undefined): void {
  const aside = temporaryName(path);
  try {
    renameSync(path, aside);
  } catch {
    return; // gone already
  }
  if (readLock(aside)?.token !== stale?.token) {
    try {
      linkSync(aside, path);
    } catch {
      /* a third run holds it now */
    }
  }
  rmSync(aside, { force: true });
}

/**
 * Takes `dir`'s lock for this run (making the folder if missing), or throws one line naming the
 * live run that holds it (`flag`: the setting that chose the folder). Returns the release.
 */
export function lockFolder(dir: string, flag: string): () => void {
  makeFolders(dir);
  const path = join(dir, LOCK_FILE),
    mine: LockOwner = { pid: process.pid, since: new Date().toISOString(), token: randomUUID() };
  while (!create(path, mine)) {
    const held = readLock(path);
    // A lock of this process is an earlier process's that had the same pid: this one takes its folders once.
    if (held && held.pid !== process.pid && processAlive(held.pid)) {
      throw new Error(
        `${dir} is in use by another run (process ${held.pid}, since ${held.since}): wait for it to end or give another ${flag}`,
      );
    }
    removeStale(path, held);
  }
  if (removedAtJobEnd(path)) return () => {};
  const release = () => {
    process.off('exit', release);
    if (readLock(path)?.token === mine.token) rmSync(path, { force: true });
  };
  process.on('exit', release);
  return release;
}
