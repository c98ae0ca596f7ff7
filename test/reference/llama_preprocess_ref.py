#!/usr/bin/python3
"""MindFormers' llama_preprocess (qa and wiki), written from SPEC.md section 3 with Debian's
python3-sentencepiece as the tokenizer: the oracle the TypeScript pipeline is checked against.

usage:
  llama_preprocess_ref.py qa   MODEL CONVERSATIONS_JSON SEQ_LENGTH OUT_BIN
  llama_preprocess_ref.py wiki MODEL TEXT_FILE SEQ_LENGTH REPEAT OUT_BIN
  llama_preprocess_ref.py tok  MODEL     (stdin: JSON strings; stdout: JSON arrays of tok(text))
  llama_preprocess_ref.py clean MODEL    (stdin: JSON strings; stdout: clean_wikitext of each)

OUT_BIN receives, record after record, input_ids and then (qa) labels, each SEQ_LENGTH + 1
int32 little-endian values. stdout receives one JSON line: {"records": N, "masked": [i, ...]}
where masked lists the 0-based records whose labels are all IGNORE.
"""
import array
import json
import re
import sys

import sentencepiece as spm

IGNORE = -100
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLE_OF = {'human': 'USER', 'gpt': 'ASSISTANT'}
ASSISTANT_SEP = ' ASSISTANT: '


class LlamaTok:
    """Hugging Face's slow LlamaTokenizer (legacy) with BOS and EOS: special-token text is cut
    out and kept as its id; every other piece is encoded by SentencePiece on its own."""
    SPECIAL = re.compile(r'(<unk>|<s>|</s>)')

    def __init__(self, model):
        self.sp = spm.SentencePieceProcessor(model_file=model)
        self.bos, self.eos = self.sp.bos_id(), self.sp.eos_id()
        self.special = {'<unk>': self.sp.unk_id(), '<s>': self.bos, '</s>': self.eos}

    def __call__(self, text):
        ids = [self.bos]
        for part in self.SPECIAL.split(text):
            if part in self.special:
                ids.append(self.special[part])
            elif part:
                ids.extend(self.sp.encode(part))
        ids.append(self.eos)
        return ids


def render(turns):
    """Vicuna v1.1: system, then "ROLE: message" + " " (user) or "</s>" (assistant)."""
    if ROLE_OF[turns[0]['from']] != 'USER':
        turns = turns[1:]
    text = SYSTEM + ' '
    for j, turn in enumerate(turns):
        role = ROLE_OF[turn['from']]
        if role != ('USER', 'ASSISTANT')[j % 2]:
            raise ValueError('roles do not alternate')
        if turn['value']:
            text += role + ': ' + turn['value'] + (' ', '</s>')[j % 2]
        else:
            text += role + ':'
    return text


def qa_row(tok, text, length):
    """input_ids and labels (length = seq_length + 1) of one rendered conversation."""
    rounds = text.split('</s>')
    ids = [tok.bos]
    for rnd in rounds:
        if rnd == '':
            break
        ids += tok(rnd)[1:]
    padded = ids + [0] * max(0, length - len(ids))
    labels = list(padded)
    total = sum(1 for x in padded if x != 0)
    cur = 1
    labels[0] = IGNORE
    for rnd in rounds:
        if rnd == '':
            break
        parts = rnd.split(ASSISTANT_SEP)
        if len(parts) != 2:
            break
        round_len = len(tok(rnd)) - 1
        instruction_len = len(tok(parts[0] + ASSISTANT_SEP)) - 3
        for k in range(cur, min(cur + instruction_len, len(labels))):
            labels[k] = IGNORE
        cur += round_len
    for k in range(cur, len(labels)):
        labels[k] = IGNORE
    if cur < length and cur != total:
        labels = [IGNORE] * len(labels)
    return padded[:length], labels[:length]


# MindFormers' clean_wikitext as (kind, pattern, replacement) steps, in order.
WIKI_STEPS = [
    ('str', "s '", "s'"),
    ('re', r"/' [0-9]/", r"/'[0-9]/"),
    ('str', ' @-@ ', '-'),
    ('str', ' @,@ ', ','),
    ('str', ' @.@ ', '.'),
    ('str', ' : ', ': '),
    ('str', ' ; ', '; '),
    ('str', ' . ', '. '),
    ('str', ' ! ', '! '),
    ('str', ' ? ', '? '),
    ('str', ' , ', ', '),
    ('re', r'\(\s*([^\)]*?)\s*\)', r'(\1)'),
    ('re', r'\[\s*([^\]]*?)\s*\]', r'[\1]'),
    ('re', r'{\s*([^}]*?)\s*}', r'{\1}'),
    ('re', r'\"\s*([^\"]*?)\s*\"', r'"\1"'),
    ('re', r"'\s*([^']*?)\s*'", r"'\1'"),
    ('str', '= = = =', '===='),
    ('str', '= = =', '==='),
    ('str', '= =', '=='),
    ('str', ' \u00b0 ', '\u00b0'),
    ('str', ' \n', '\n'),
    ('str', '\n ', '\n'),
    ('str', ' N ', ' 1 '),
    ('str', " 's", "'s"),
]


def clean_wikitext(text):
    for kind, pattern, replacement in WIKI_STEPS:
        text = text.replace(pattern, replacement) if kind == 'str' else re.sub(pattern, replacement, text)
    return text


def wiki_rows(tok, path, length, repeat):
    with open(path, 'r', encoding='utf-8') as f:  # universal newlines, as MindFormers reads it
        text = f.read()
    content = []
    for para in clean_wikitext(text).split('\n\n'):
        if para and not para.strip().startswith('='):
            content += tok(para)
    content = content * repeat
    return [content[i:i + length] for i in range(0, len(content) - length + 1, length)]


def write_rows(path, rows):
    with open(path, 'wb') as f:
        for row in rows:
            for column in row:
                array.array('i', column).tofile(f)


def main():
    mode, model = sys.argv[1], sys.argv[2]
    tok = LlamaTok(model)
    if mode == 'tok':
        for line in sys.stdin:
            sys.stdout.write(json.dumps(tok(json.loads(line))) + '\n')
        return
    if mode == 'clean':
        for line in sys.stdin:
            sys.stdout.write(json.dumps(clean_wikitext(json.loads(line))) + '\n')
        return
    if mode == 'qa':
        source, seq_length, out = sys.argv[3], int(sys.argv[4]), sys.argv[5]
        with open(source, 'r', encoding='utf-8') as f:
            records = json.load(f)
        rows = [qa_row(tok, render(r['conversations']), seq_length + 1) for r in records]
    else:
        source, seq_length, repeat, out = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
        rows = [(ids,) for ids in wiki_rows(tok, source, seq_length + 1, repeat)]
    write_rows(out, rows)
    masked = [i for i, row in enumerate(rows) if len(row) > 1 and all(x == IGNORE for x in row[1])]
    print(json.dumps({'records': len(rows), 'masked': masked}))


main()
