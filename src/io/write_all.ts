/** Positioned writes that write everything they are given. */
import { writeSync } from 'node:fs';

/** Writes all of `bytes` at byte `position` of the open file `fd` (one writeSync may write less, and at most 1 GiB is asked at a time). */
export function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; )
    done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), position + done);
}
