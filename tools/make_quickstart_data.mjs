/**
 * Writes the quick start's built-in data, deterministically (run it again: same bytes):
 *   quickstart/alpaca_sample.json   instruction data in the Alpaca schema, to fine-tune on
 *   quickstart/alpaca_heldout.json  held-out instructions of the same tasks, to evaluate and generate
 *   quickstart/pretrain.txt         plain text (wiki-style paragraphs) to pre-train the tiny model
 *                                   on before fine-tuning: the facts of every task as sentences, and
 *                                   the training instructions as "Question: ...\nAnswer: ..." pairs
 * Six templated tasks with short, regular answers that a tiny model can learn: capital cities,
 * opposites, plurals, sums of two digits, repeating a word, the next letter. The held-out
 * instructions ask about items that no training instruction asks about; their facts appear in
 * the pre-training text. Pre-training teaches the facts and plain questions and answers; LoRA
 * fine-tuning teaches the chat form (Vicuna's system prompt, Alpaca's instruction prompt, the
 * answer after "ASSISTANT:" and then </s>), which the pre-trained model has never seen.
 *   node tools/make_quickstart_data.mjs
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
const random = generator(20240521);
function shuffle(list) {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const CAPITALS = [
  ['France', 'Paris'], ['Germany', 'Berlin'], ['Italy', 'Rome'], ['Spain', 'Madrid'], ['Japan', 'Tokyo'],
  ['China', 'Beijing'], ['Russia', 'Moscow'], ['Egypt', 'Cairo'], ['Greece', 'Athens'], ['Portugal', 'Lisbon'],
  ['Austria', 'Vienna'], ['Poland', 'Warsaw'], ['Norway', 'Oslo'], ['Sweden', 'Stockholm'], ['Finland', 'Helsinki'],
  ['Denmark', 'Copenhagen'], ['Ireland', 'Dublin'], ['Hungary', 'Budapest'], ['Peru', 'Lima'], ['Chile', 'Santiago'],
  ['Cuba', 'Havana'], ['Kenya', 'Nairobi'], ['Canada', 'Ottawa'], ['Mexico', 'Mexico City'], ['India', 'New Delhi'],
  ['Thailand', 'Bangkok'], ['Turkey', 'Ankara'], ['Iran', 'Tehran'], ['Iraq', 'Baghdad'], ['Belgium', 'Brussels'],
  ['Argentina', 'Buenos Aires'], ['Colombia', 'Bogota'], ['Vietnam', 'Hanoi'], ['Nepal', 'Kathmandu'], ['Ukraine', 'Kyiv'],
  ['Romania', 'Bucharest'],
];
const OPPOSITES = [
  ['hot', 'cold'], ['big', 'small'], ['up', 'down'], ['fast', 'slow'], ['old', 'new'], ['happy', 'sad'],
  ['light', 'dark'], ['open', 'closed'], ['early', 'late'], ['strong', 'weak'], ['rich', 'poor'], ['tall', 'short'],
  ['wet', 'dry'], ['hard', 'soft'], ['full', 'empty'], ['clean', 'dirty'], ['loud', 'quiet'], ['thick', 'thin'],
  ['good', 'bad'], ['high', 'low'], ['left', 'right'], ['day', 'night'], ['win', 'lose'], ['buy', 'sell'],
  ['push', 'pull'], ['first', 'last'], ['true', 'false'], ['inside', 'outside'], ['love', 'hate'], ['near', 'far'],
];
const PLURALS = [
  ['cat', 'cats'], ['dog', 'dogs'], ['book', 'books'], ['tree', 'trees'], ['car', 'cars'], ['bird', 'birds'],
  ['house', 'houses'], ['apple', 'apples'], ['river', 'rivers'], ['table', 'tables'], ['box', 'boxes'], ['bus', 'buses'],
  ['glass', 'glasses'], ['dish', 'dishes'], ['baby', 'babies'], ['city', 'cities'], ['story', 'stories'], ['leaf', 'leaves'],
  ['knife', 'knives'], ['wolf', 'wolves'], ['man', 'men'], ['woman', 'women'], ['child', 'children'], ['foot', 'feet'],
  ['tooth', 'teeth'], ['mouse', 'mice'], ['goose', 'geese'], ['person', 'people'], ['sheep', 'sheep'], ['fish', 'fish'],
];
const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const SUMS = DIGITS.flatMap((_, a) => DIGITS.map((_, b) => [a, b]));
const WORDS = [
  'apple', 'river', 'green', 'music', 'stone', 'happy', 'cloud', 'bread', 'tiger', 'water', 'light', 'paper',
  'chair', 'dream', 'smile', 'ocean', 'garden', 'silver', 'window', 'summer', 'winter', 'yellow', 'planet', 'forest',
  'orange', 'rabbit', 'pencil', 'candle', 'bridge', 'dance', 'horse', 'lemon', 'night', 'piano', 'queen', 'snow',
  'train', 'voice', 'wheel', 'zebra',
];
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXY'.split('').map((c) => [c, String.fromCharCode(c.charCodeAt(0) + 1)]);

/**
 * Each task: its items, how many go to the held-out set, the instruction templates (the first ones
 * for training, the last one held out as well), the answer, and the pre-training sentences.
 */
const TASKS = [
  {
    items: CAPITALS, heldOut: 6, perItem: 3,
    ask: [(c) => `What is the capital of ${c}?`, (c) => `Name the capital city of ${c}.`, (c) => `Which city is the capital of ${c}?`],
    answer: (_, cap) => cap,
    facts: (c, cap) => [`The capital of ${c} is ${cap}.`, `${cap} is the capital city of ${c}.`],
  },
  {
    items: OPPOSITES, heldOut: 5, perItem: 3,
    ask: [(w) => `What is the opposite of "${w}"?`, (w) => `Give the antonym of the word "${w}".`, (w) => `What word means the opposite of "${w}"?`],
    answer: (_, o) => o,
    facts: (w, o) => [`The opposite of ${w} is ${o}.`, `${w[0].toUpperCase()}${w.slice(1)} and ${o} are opposites.`],
  },
  {
    items: PLURALS, heldOut: 5, perItem: 3,
    ask: [(w) => `What is the plural of "${w}"?`, (w) => `Write the plural form of the word "${w}".`, (w) => `One ${w}, two ...? Give the plural.`],
    answer: (_, p) => p,
    facts: (w, p) => [`The plural of ${w} is ${p}.`, `One ${w}, two ${p}.`],
  },
  {
    items: SUMS, heldOut: 15, perItem: 1,
    ask: [(a, b) => `What is ${a} plus ${b}?`, (a, b) => `Add ${a} and ${b}.`, (a, b) => `Compute ${a} + ${b}.`],
    answer: (a, b) => String(a + b),
    facts: (a, b) => [`${a} plus ${b} is ${a + b}.`, `${DIGITS[a]} plus ${DIGITS[b]} makes ${a + b}.`],
  },
  {
    items: WORDS.map((w) => [w]), heldOut: 6, perItem: 3,
    ask: [(w) => `Repeat the word "${w}" three times.`, (w) => `Say "${w}" three times.`, (w) => `Write the word "${w}" three times.`],
    answer: (w) => `${w} ${w} ${w}`,
    facts: (w) => [`${w} ${w} ${w}.`, `The word ${w}.`],
  },
  {
    items: LETTERS, heldOut: 4, perItem: 3,
    ask: [(c) => `Which letter comes after ${c} in the alphabet?`, (c) => `What is the next letter after ${c}?`, (c) => `Name the letter that follows ${c}.`],
    answer: (_, n) => n,
    facts: (c, n) => [`After ${c} comes ${n}.`, `The letter after ${c} is ${n}.`],
  },
];

const train = [], heldOut = [], facts = [];
for (const task of TASKS) {
  const items = shuffle(task.items);
  for (const [i, item] of items.entries()) {
    facts.push(...task.facts(...item));
    const record = (ask) => ({ instruction: ask(...item), input: '', output: task.answer(...item) });
    const asks = shuffle(task.ask);
    if (i < task.heldOut) heldOut.push(record(asks[0]));
    else train.push(...asks.slice(0, task.perItem).map(record));
  }
}

/** A JSON array with one record per line. */
const jsonLines = (records) => `[\n${records.map((r) => `  ${JSON.stringify(r)}`).join(',\n')}\n]\n`;

/** Paragraphs of six facts each and one per question, shuffled, separated by blank lines (wiki layout). */
function paragraphs(sentences, questions) {
  const order = shuffle(sentences), out = questions.map((r) => `Question: ${r.instruction}\nAnswer: ${r.output}`);
  for (let i = 0; i < order.length; i += 6) out.push(order.slice(i, i + 6).join(' '));
  return shuffle(out).join('\n\n') + '\n';
}

mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'alpaca_sample.json'), jsonLines(shuffle(train)));
writeFileSync(join(OUT, 'alpaca_heldout.json'), jsonLines(heldOut));
writeFileSync(join(OUT, 'pretrain.txt'), paragraphs(facts, train));
console.log(`quickstart/: ${train.length} training records, ${heldOut.length} held-out records, ${facts.length} facts and ${train.length} questions to pre-train on`);
