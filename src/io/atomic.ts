/**
 * Outputs that appear whole or not at all. Each is written under a temporary name in the
 * folder where it will live (`.<name>.partial-<pid>-<n>`, hidden and plainly unfinished), then
 * renamed into place when complete; a rename within one folder is atomic, so readers never see
 * a half-written file or folder under the real name. A failure removes the temporary; so does
 * Ctrl-C or SIGTERM while the output is being written, where the program asks for it (the CLI
 * does: src/commands/signals.ts; in a rank thread of msrun_launcher, which gets no signals, the
 * launcher removes it when the job stops). A process killed outright leaves its temporaries,
 * which the next run that writes there sweeps (their pid names a process gone).
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

let counter = 0;
/** Temporaries of outputs being written now, removed if the process is interrupted. */
const pending = new Set<string>();

/** Who removes paths that a stopped process leaves: told of each when it appears and when it is done. */
export interface Leftovers {
  add(path: string): void;
  remove(path: string): void;
}

/** A rank thread's launcher (set by the thread), which removes what the rank leaves when the job stops. */
let launcher: Leftovers | undefined;

/** Makes `leftovers` remove this thread's temporaries if it is stopped (a rank thread: its launcher). */
export function handLeftoversTo(leftovers: Leftovers): void {
  launcher = leftovers;
}

/**
 * In a rank thread, has the launcher remove `path` when the job ends, however it ends; returns
 * false elsewhere (the caller removes it itself).
 */
export function removedAtJobEnd(path: string): boolean {
  launcher?.add(path);
  return launcher !== undefined;
}

/** Removes the temporaries of outputs being written now (what a process stopped by a signal must not leave). */
export function removeTemporaries(): void {
  for (const path of pending) rmSync(path, { recursive: true, force: true });
}

/** Whether this thread is a rank of a launcher, which removes its temporaries and handles the signals. */
export function inRankThread(): boolean {
  return launcher !== undefined;
}

/** Called before the first temporary is made (the CLI installs its signal handlers there: src/commands/signals.ts). */
let beforeWrite: (() => void) | undefined;

/** Has `hook` run before every write starts (a program that wants its temporaries removed on a signal). */
export function beforeWriting(hook: () => void): void {
  beforeWrite = hook;
}

function track(path: string): void {
  if (launcher) return launcher.add(path);
  beforeWrite?.();
  pending.add(path);
}

function untrack(path: string): void {
  if (launcher) return launcher.remove(path);
  pending.delete(path);
}

/** The code and text of a file system error ("EROFS: read-only file system"), without the call and path Node appends. */
function reason(err: unknown): string {
  return (err as Error).message.replace(/, \w+ '.*'$/, '');
}

/**
 * Makes folder `path` and any missing parents (`mkdir -p`), naming the folder that cannot be
 * made and why: Node's recursive mkdir reports a read-only file system as ENOENT.
 */
export function makeFolders(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); !existsSync(p) && p !== dirname(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(p).isDirectory()) continue;
      throw new Error(`cannot create folder ${p} (${reason(err)})`);
    }
  }
}

/**
 * Checks that `path` can be created: it must not exist (`flag` names the option that chose it,
 * for the message), its parent folders are made if missing, and the folder it goes in takes writes.
 */
export function prepareNewOutput(path: string, flag: string): void {
  if (existsSync(path)) {
    const kind = statSync(path).isDirectory() ? 'a directory' : 'a file';
    throw new Error(`${path} already exists (${kind}); choose another ${flag}`);
  }
  makeFolders(dirname(path));
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    throw new Error(`${path}: cannot write in ${dirname(path)} (${reason(err)})`);
  }
}

/** The temporary name for `path` in the same folder. */
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.partial-${process.pid}-${counter++}`);
}

/** Whether process `pid` is running (one that exists but belongs to another user counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporaries in folder `dir` (not below it) of processes that have ended, and of
 * this one (called at a run's start, before it writes any); returns their names.
 */
export function sweepTemporaries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const ended = (pid: string) => Number(pid) === process.pid || !processAlive(Number(pid));
  const gone: string[] = [];
  for (const name of readdirSync(dir)) {
    const partial = /^\..+\.partial-(\d+)-\d+$/.exec(name),
      replaced = /^\.(.+)\.replaced-(\d+)$/.exec(name);
    if (partial && ended(partial[1])) gone.push(name);
    else if (replaced && ended(replaced[2])) {
      // replaceFolder stopped between its two renames: the old folder is the only complete one
      if (!existsSync(join(dir, replaced[1]))) renameSync(join(dir, name), join(dir, replaced[1]));
      else gone.push(name);
    }
  }
  for (const name of gone) rmSync(join(dir, name), { recursive: true, force: true });
  return gone;
}

/**
 * Creates an output at `path` through a temporary: `write` receives the temporary path (a file
 * to write, or a folder it creates when `folder` is set) and the result is renamed to `path`
 * once `write` resolves. If `write` throws, the temporary is removed and the error passes on.
 */
export async function writeAtomically<T>(
  path: string,
  write: (tmp: string) => Promise<T>,
  { folder = false } = {},
): Promise<T> {
  const tmp = temporaryName(path);
  track(tmp);
  try {
    if (folder) await mkdir(tmp);
    const result = await write(tmp);
    if (existsSync(path)) throw new Error(`${path} was created by someone else while this output was being written`);
    await rename(tmp, path);
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    untrack(tmp);
  }
}

/**
 * Replaces folder `path` (or creates it) with the one `write` creates at the temporary path it
 * receives: the old folder
 * is moved aside to `.<name>.replaced-<pid>`, the new one renamed in, then the old one removed.
 * A process stopped between the two renames leaves the old folder aside, which sweepTemporaries
 * puts back; at every moment one complete folder exists under one of the two names.
 */
export async function replaceFolder(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = temporaryName(path),
    aside = join(dirname(path), `.${basename(path)}.replaced-${process.pid}`);
  track(tmp);
  try {
    await write(tmp);
    await rm(aside, { recursive: true, force: true });
    const had = existsSync(path);
    if (had) await rename(path, aside);
    await rename(tmp, path);
    if (had) await rm(aside, { recursive: true, force: true });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  } finally {
    untrack(tmp);
  }
}

/** Writes a whole file atomically. */
export async function writeFileAtomically(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomically(path, (tmp) => writeFile(tmp, data));
}
