/**
 * JSON text with errors people can act on: invalid UTF-8 names the byte, and a syntax error
 * names the line and column (JSON.parse in V8 gives at most an offset, and not always that),
 * found by a small validator that runs only after JSON.parse has failed. No file system here
 * (the portable entry parses config.json bytes with it); src/data/json_file.ts reads files.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as UTF-8 text (a leading BOM is dropped); invalid UTF-8 is an error naming `where` and the byte. */
export function decodeUtf8Text(bytes: Uint8Array, where: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error(`${where}: not UTF-8 text (invalid byte at offset ${firstInvalidUtf8(bytes)})`);
  }
}

/** Parses JSON text; a syntax error names `where`, the line and the column (both from 1). */
export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const found = locateJsonError(text);
    if (!found) throw new Error(`${where}: invalid JSON (${(err as Error).message})`);
    const { line, column } = lineAndColumn(text, found.at);
    throw new Error(`${where}: invalid JSON at line ${line}, column ${column}: ${found.reason}`);
  }
}

/** 1-based line and column (in characters) of a string offset. */
export function lineAndColumn(text: string, at: number): { line: number; column: number } {
  let line = 1,
    lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: at - lineStart + 1 };
}

/** Offset of the first byte that breaks UTF-8. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (n === 0 || i + n > bytes.length) return i;
    for (let k = 1; k < n; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    try {
      utf8.decode(bytes.subarray(i, i + n)); // rejects overlong forms and surrogates
    } catch {
      return i;
    }
    i += n;
  }
  return bytes.length;
}

/** Where the first JSON syntax error is, and what is wrong there. */
interface JsonError {
  at: number;
  reason: string;
}

/** Walks JSON text by the grammar of RFC 8259; returns the first error, or null if there is none. */
export function locateJsonError(text: string): JsonError | null {
  let i = 0;
  class Stop {
    constructor(readonly error: JsonError) {}
  }
  const fail = (reason: string, at = i): never => {
    throw new Stop({ at, reason });
  };
  const describe = () => (i >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[i])}`);
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(describe());
  };
  const digits = () => {
    const s = i;
    while (i < text.length && text[i] >= '0' && text[i] <= '9') i++;
    if (i === s) fail(`${describe()} in a number`);
  };
  const number = () => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else digits();
    if (text[i] === '.') {
      i++;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      digits();
    }
  };
  const string = () => {
    const start = i++;
    for (;;) {
      if (i >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail('control character in a string (escape it)');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('bad \\u escape');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail('bad escape in a string');
      } else i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`${describe()} where a property name in double quotes was expected`);
        string();
        ws();
        if (text[i] !== ':') fail(`${describe()} where ":" was expected`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail(`${describe()} where "," or "}" was expected`);
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail(`${describe()} where "," or "]" was expected`);
      }
    } else if (c === '"') string();
    else if (c === '-' || (c >= '0' && c <= '9')) number();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else fail(`${describe()} where a value was expected`);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`${describe()} after the end of the JSON value`);
    return null;
  } catch (err) {
    if (err instanceof Stop) return err.error;
    return null; // nesting too deep to walk: no location
  }
}
