/**
 * The growing completion text on the Llama 2 tokenizer: its pieces add up to the text of the
 * whole continuation (a multi-token emoji is never split; SentencePiece's leading space is kept
 * after the prompt), text that may begin a stop string waits, and a stop string, even one that
 * spans tokens, ends the text just before it. Expected texts are written out by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTokenizer } from '../../src/tokenizer/load.ts';
import { CompletionText } from '../../src/serve/text.ts';

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
