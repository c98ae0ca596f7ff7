/**
 * Following a log file that another process appends to (`tail -f`): the lines added after the
 * call are handed on as they appear; a file that does not exist yet is waited for.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';

/**
 * Follows what is appended to `path`, polling every `everyMs`; `poll()` reads what is there now,
 * `stop()` reads the rest and ends.
 */
export function follow(path: string, onLine: (line: string) => void, everyMs = 250): { poll(): void; stop(): void } {
  let fd: number | undefined,
    rest = '',
    at = existsSync(path) ? statSync(path).size : 0;
  const buf = Buffer.alloc(64 * 1024);
  const decoder = new TextDecoder();
  const poll = () => {
    if (fd === undefined) {
      if (!existsSync(path)) return;
      fd = openSync(path, 'r');
    }
    for (let n; (n = readSync(fd, buf, 0, buf.length, at)) > 0; at += n) {
      const parts = (rest + decoder.decode(buf.subarray(0, n), { stream: true })).split('\n');
      rest = parts.pop()!;
      for (const p of parts) onLine(p);
    }
  };
  const timer = setInterval(poll, everyMs);
  return {
    poll,
    stop() {
      clearInterval(timer);
      poll();
      if (rest) onLine(rest);
      if (fd !== undefined) closeSync(fd);
    },
  };
}
