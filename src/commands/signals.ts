/**
 * Signals belong to the command line, not the library: SIGINT and SIGTERM end a command's
 * process (exit 130, 143) once the temporaries of its unfinished writes are removed.
 */
import { beforeWriting, inRankThread, removeTemporaries } from '../io/atomic.ts';

let handling = false;

function onSignal(signal: NodeJS.Signals): void {
  removeTemporaries();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/**
 * From now on, SIGINT and SIGTERM end the process once its temporaries are removed (nothing in
 * a rank thread: the launcher handles signals). A handler runs only when the event loop turns,
 * so a long synchronous computation gives it turns (the trainer, after every step). Once
 * installed it stays: removing a handler just as a signal comes can lose the signal.
 */
export function exitOnSignals(): void {
  if (handling || inRankThread()) return;
  handling = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Installs the handlers when the first output starts being written (a command that writes nothing keeps Ctrl-C's default). */
export function exitOnSignalsWhenWriting(): void {
  beforeWriting(exitOnSignals);
}

/** An AbortSignal aborted by the first SIGINT or SIGTERM (its reason the signal's name) while it is held; `release` stops listening. */
export function signalsAsAbort(): { stop: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => controller.abort(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return { stop: controller.signal, release };
}
