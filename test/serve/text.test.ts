/**
 * The growing completion text on the Llama 2 tokenizer: its pieces add up to the text of the
 * whole continuation (a multi-token emoji is never split; SentencePiece's leading space is kept
 * after the prompt), text that may begin a stop string waits, and a stop string, even one that
 * spans tokens, ends the text just before it. Expected texts are written out by hand. A prompt that
 * ends in half a character keeps its bytes (its text never leaks into the completion); a character
 * in byte tokens goes out once, with the token that completes it; over random ids the pieces add
 * up to the text of the new ids; and the ids decoded grow linearly with the output.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/runtime/random.ts';
import { CompletionText } from '../../src/serve/text.ts';
import { loadTokenizer } from '../../src/tokenizer/load.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';

/** The pieces of a completion text fed `ids` one by one, the flushed rest last. */
function stream(tok: Tokenizer, prompt: number[], ids: number[], stops: string[] = []): string[] {
  const text = new CompletionText(tok, prompt, stops),
    pieces = ids.map((id) => text.push(id));
  pieces.push(text.flush());
  return pieces;
}

test('completion text: pieces, held-back stop prefixes, and stops', async () => {
  const tok = (await loadTokenizer()).tokenizer;
  const prompt = tok.encode('Say', { bos: true, eos: false });
  const continuation = tok.encode('Say hello 🙂, world. The end', { bos: true, eos: false }).slice(prompt.length);
  const run = (stops: string[]) => {
    const text = new CompletionText(tok, prompt, stops),
      pieces: string[] = [];
    for (const id of continuation) {
      pieces.push(text.push(id));
      if (text.stopped) break;
    }
    pieces.push(text.flush());
    return { pieces, value: text.value, stopped: text.stopped };
  };
  const free = run([]);
  assert.equal(free.pieces.join(''), ' hello 🙂, world. The end');
  assert.ok(
    free.pieces.every((p) => !p.includes('\uFFFD')),
    JSON.stringify(free.pieces),
  );
  assert.equal(free.stopped, false);
  const stopped = run(['. The', 'xyz']);
  assert.equal(stopped.pieces.join(''), ' hello 🙂, world');
  assert.equal(stopped.value, ' hello 🙂, world');
  assert.equal(stopped.stopped, true);
  // ", w" waits while it could begin ", wx" or ", world!"; the text goes out once it cannot.
  const held = run([', wx', ', world!']);
  assert.equal(held.pieces.join(''), ' hello 🙂, world. The end');
  const at = held.pieces.findIndex((p) => p.includes(','));
  assert.ok(held.pieces[at].includes(', world.'), JSON.stringify(held.pieces));
});

test('completion text: a prompt ending in half a character does not leak into the completion', async () => {
  const tok = (await loadTokenizer()).tokenizer,
    byte = (b: number) => tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  // ✅ is E2 9C 85: the prompt holds its first byte, the model writes the other two.
  const prompt = [...tok.encode('Say', { bos: true, eos: false }), byte(0xe2)],
    done = tok.encode('Say done', { bos: true, eos: false }).slice(2);
  const pieces = stream(tok, prompt, [byte(0x9c), byte(0x85), ...done]);
  // Two bytes without a lead byte are two invalid bytes, as SentencePiece reads them.
  assert.equal(pieces.join(''), '\uFFFD\uFFFD done');
  assert.ok(!pieces.join('').includes('Say'), JSON.stringify(pieces));
});

test('completion text: a character in byte tokens goes out once, with the token that completes it', async () => {
  const tok = (await loadTokenizer()).tokenizer,
    byte = (b: number) => tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const prompt = tok.encode('Say', { bos: true, eos: false }),
    ids = [
      tok.tokenToId('\u2581'),
      ...[0xe2, 0x9c, 0x85].map(byte), // ✅
      ...[0xf0, 0x9f, 0x99, 0x82].map(byte), // 🙂
      tok.tokenToId('\u2581done'),
    ];
  assert.deepEqual(stream(tok, prompt, ids), [' ', '', '', '✅', '', '', '', '🙂', ' done', '']);
});

test('completion text: over random ids the pieces add up to the text of the new ids', async () => {
  const tok = (await loadTokenizer()).tokenizer,
    rng = new Rng(17),
    say = tok.encode('Say', { bos: true, eos: false });
  // Whole characters in byte tokens, single bytes (many of them lead bytes), control and unknown
  // pieces, and anything; in odd trials mostly single bytes of 0x80 and above, whose text ends in
  // U+FFFD for many tokens in a row.
  const randomIds = (count: number, bytes: boolean) => {
    const ids: number[] = [];
    while (ids.length < count) {
      const r = rng.uniform();
      if (bytes ? r < 0.1 : r < 0.3) {
        const c = 0x80 + rng.int(0x10ff80);
        if (c < 0xd800 || c > 0xdfff) for (const b of Buffer.from(String.fromCodePoint(c))) ids.push(3 + b);
      } else if (bytes ? r < 0.95 : r < 0.55) ids.push(3 + (r < 0.4 ? 0xc0 + rng.int(64) : 0x80 + rng.int(128)));
      else if (r < 0.6) ids.push(rng.int(3));
      else ids.push(rng.int(tok.vocabSize));
    }
    return ids;
  };
  for (let trial = 0; trial < 300; trial++) {
    const prompt = [...say, ...randomIds(rng.int(4), false)],
      ids = randomIds(1 + rng.int(40), trial % 2 === 1);
    // The new ids read after plain text: SentencePiece keeps their leading space, and their bytes join nothing before them.
    const expected = tok.decode([...say, ...ids]).slice(tok.decode(say).length);
    assert.equal(stream(tok, prompt, ids).join(''), expected, JSON.stringify({ prompt, ids }));
  }
});

test('completion text: the ids decoded grow linearly with the output', async () => {
  const tok: Tokenizer = (await loadTokenizer()).tokenizer;
  let decoded = 0;
  const counting: Tokenizer = Object.create(tok);
  counting.decode = (ids, options) => {
    decoded += ids.length;
    return tok.decode(ids, options);
  };
  const prompt = tok.encode('Say', { bos: true, eos: false }),
    words = tok.encode(' the end'.repeat(1000), { bos: false, eos: false }),
    lead = tok.tokenToId('<0xE2>'); // a lead byte that never completes: every text ends in U+FFFD
  for (const ids of [words, Array(3000).fill(lead)]) {
    decoded = 0;
    const pieces = stream(counting, prompt, ids, ['zz']);
    assert.equal(pieces.join(''), tok.decode([...prompt, ...ids]).slice(tok.decode(prompt).length));
    assert.ok(decoded < 20 * ids.length, `${decoded} ids decoded for ${ids.length} new ids`);
  }
});
