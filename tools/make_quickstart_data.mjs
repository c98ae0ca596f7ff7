/**
 * Writes the quick start's built-in data, deterministically (run it again: same bytes):
 *   quickstart/alpaca_sample.json   instruction data in the Alpaca schema, to fine-tune on
 *   quickstart/alpaca_heldout.json  held-out instructions of the same tasks, to evaluate and generate
 *   quickstart/pretrain.txt         plain text (wiki-style paragraphs) to pre-train the tiny model on
 * Four tasks whose answer follows from a rule, so that a tiny model can answer items it has never
 * seen: repeat a list of three digits twice (copying), count the letters of a list of one to five
 * (counting), name the first number of a list of four (position), add one to each of three digits
 * 0-8 (small arithmetic). Each task has one instruction template, unlike the others'. No held-out
 * list is the list of any training record (of any task), and no held-out list of three or more
 * items appears in the pre-training text. The pre-training text is only sequences (alphabet runs,
 * counting runs, random lists of digits and of letters), never an instruction, a question or an
 * answer: it teaches the model the tokens and how sequences go on; LoRA fine-tuning then teaches
 * the chat form and the four rules. What was tried, and why these four, is in docs/quickstart.md.
 *   node tools/make_quickstart_data.mjs
 * QUICKSTART_SEED=N draws another sample of the same kind (docs/quickstart.md: the accuracy on
 * other draws); the files are written over, `git checkout quickstart/` brings the shipped ones back.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OUT = new URL('../quickstart/', import.meta.url).pathname;

/** mulberry32: a small seeded generator, so the files never change between runs. */
function generator(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(Number(process.env.QUICKSTART_SEED ?? 20240521));
const below = (n) => Math.floor(random() * n);
function shuffle(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = below(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz'.split('');
const UPPER = LOWER.map((c) => c.toUpperCase());
/** A list of `n` random digits or lowercase letters, as strings. */
const digits = (n) => Array.from({ length: n }, () => String(below(10)));
const smallDigits = (n) => Array.from({ length: n }, () => String(below(9))); // 0-8: one more is one digit
const letters = (n) => Array.from({ length: n }, () => LOWER[below(26)]);
/** A list as it is written: items separated by spaces. */
const spaced = (list) => list.join(' ');

/** Each task: a random item (a list), its instruction, its answer, and how many records go where. */
const TASKS = [
  {
    item: () => digits(3),
    ask: (l) => `Repeat ${spaced(l)} twice.`,
    answer: (l) => `${spaced(l)} ${spaced(l)}`,
    train: 150,
    heldOut: 12,
  },
  {
    item: () => letters(1 + below(5)),
    ask: (l) => `How many letters are in: ${spaced(l)}?`,
    answer: (l) => String(l.length),
    train: 150,
    heldOut: 12,
  },
  {
    item: () => digits(4),
    ask: (l) => `Which number starts the list ${spaced(l)}?`,
    answer: (l) => l[0],
    train: 150,
    heldOut: 12,
  },
  {
    item: () => smallDigits(3),
    ask: (l) => `Add one to each number: ${spaced(l)}`,
    answer: (l) => spaced(l.map((d) => String(Number(d) + 1))),
    train: 150,
    heldOut: 12,
  },
];

// Held-out items first, so that no training record of any task draws one of them.
const taken = new Set();
const record = (task, list) => ({ instruction: task.ask(list), input: '', output: task.answer(list) });
function fresh(task) {
  for (;;) {
    const list = task.item(),
      key = spaced(list);
    if (!taken.has(key)) {
      taken.add(key);
      return list;
    }
  }
}
const heldOutLists = TASKS.map((task) => Array.from({ length: task.heldOut }, () => fresh(task)));
const heldOut = TASKS.flatMap((task, t) => heldOutLists[t].map((list) => record(task, list)));
const train = TASKS.flatMap((task) => Array.from({ length: task.train }, () => record(task, fresh(task))));

/** Pre-training sentences of each kind, and how many of each: alphabet runs (either case), counting runs, random lists. */
const SEQUENCES = [
  [
    300,
    () => {
      const from = below(20),
        n = 5 + below(7);
      return spaced((random() < 0.5 ? LOWER : UPPER).slice(from, from + n));
    },
  ],
  [
    300,
    () => {
      const from = below(95),
        n = 4 + below(6);
      return spaced(Array.from({ length: n }, (_, k) => from + k).filter((x) => x < 100));
    },
  ],
  [400, () => spaced(digits(3 + below(5)))],
  [400, () => spaced(letters(3 + below(5)))],
];
const longHeldOut = heldOutLists
  .flat()
  .filter((list) => list.length >= 3)
  .map((list) => ` ${spaced(list)} `);
const sentences = [];
for (const [count, sentence] of SEQUENCES) {
  for (let made = 0; made < count; ) {
    const text = sentence();
    if (longHeldOut.some((list) => ` ${text} `.includes(list))) continue;
    sentences.push(`${text}.`);
    made++;
  }
}

/** A JSON array with one record per line. */
const jsonLines = (records) => `[\n${records.map((r) => `  ${JSON.stringify(r)}`).join(',\n')}\n]\n`;

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'alpaca_sample.json'), jsonLines(shuffle(train)));
writeFileSync(join(OUT, 'alpaca_heldout.json'), jsonLines(heldOut));
writeFileSync(join(OUT, 'pretrain.txt'), shuffle(sentences).join('\n\n') + '\n');
console.log(
  `quickstart/: ${train.length} training records, ${heldOut.length} held-out records, ${sentences.length} sequences to pre-train on`,
);
