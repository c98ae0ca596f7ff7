/** Reading JSON input files: errors name the file (and, through src/data/json_text.ts, the byte or the line and column). */
import { readFile } from 'node:fs/promises';
import { decodeUtf8Text, parseJson } from './json_text.ts';

/** Reads a file as UTF-8 text (a leading BOM is dropped); errors name the file. */
export async function readTextFile(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message}`,
    );
  }
  return decodeUtf8Text(bytes, path);
}

/** Reads and parses a JSON file. */
export async function readJsonFile(path: string): Promise<unknown> {
  return parseJson(await readTextFile(path), path);
}
