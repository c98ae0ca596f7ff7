/**
 * Locating JSON syntax errors: hand-checked line and column for typical mistakes, and agreement
 * with JSON.parse on whether thousands of damaged documents are valid at all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lineAndColumn, locateJsonError, parseJson } from '../../src/data/json_text.ts';

describe('JSON errors', () => {
  it('names the line and column of typical mistakes', () => {
    const cases: [string, string][] = [
      ['[1, 2,]', 'line 1, column 7: unexpected "]" where a value was expected'],
      ['{\n  "a": 1,\n  "b" 2\n}', 'line 3, column 7: unexpected "2" where ":" was expected'],
      ['[\n"abc', 'line 2, column 1: unterminated string'],
      ['', 'line 1, column 1: unexpected end of input where a value was expected'],
      ['[1] x', 'line 1, column 5: unexpected "x" after the end of the JSON value'],
      ['{"a": "\\q"}', 'line 1, column 8: bad escape in a string'],
      ["{'a': 1}", 'line 1, column 2: unexpected "\'" where a property name in double quotes was expected'],
      ['[01]', 'line 1, column 3: unexpected "1" where "," or "]" was expected'],
      ['{"a": tru}', 'line 1, column 7: unexpected "t"'],
      ['["tab\there"]', 'line 1, column 6: control character in a string (escape it)'],
    ];
    for (const [text, message] of cases)
      assert.throws(
        () => parseJson(text, 'f.json'),
        { message: `f.json: invalid JSON at ${message}` },
        JSON.stringify(text),
      );
  });

  it('agrees with JSON.parse on which of 3,000 damaged documents are valid', () => {
    const doc = JSON.stringify({ a: [1, -2.5e3, true, null, 'x\\"y\u00e9'], b: { c: [], d: {} }, e: '🦙' }, null, 1);
    let seed = 3;
    const rand = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
    for (let k = 0; k < 3000; k++) {
      const at = rand(doc.length);
      const damaged =
        k % 2 ? doc.slice(0, at) + doc.slice(at + 1) : doc.slice(0, at) + '{}[],:"\\0e-'[rand(11)] + doc.slice(at);
      let valid = true;
      try {
        JSON.parse(damaged);
      } catch {
        valid = false;
      }
      assert.equal(locateJsonError(damaged) === null, valid, JSON.stringify(damaged));
    }
  });

  it('counts lines and columns from 1', () => {
    assert.deepEqual(lineAndColumn('ab\ncd\n', 4), { line: 2, column: 2 });
    assert.deepEqual(lineAndColumn('x', 0), { line: 1, column: 1 });
  });
});
