/**
 * Writing a command's output to stdout with backpressure; a closed pipe (`... | head`) ends the
 * process quietly instead of with an EPIPE stack trace.
 */

let guarded = false;

/** Writes text to stdout and waits while its buffer is full. */
export async function writeOut(text: string): Promise<void> {
  if (!guarded) {
    guarded = true;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
  if (!process.stdout.write(text)) await new Promise((resolve) => process.stdout.once('drain', resolve));
}
