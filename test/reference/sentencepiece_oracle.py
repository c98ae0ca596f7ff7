#!/usr/bin/python3
"""SentencePiece as the tokenizer oracle (Debian python3-sentencepiece).

usage: sentencepiece_oracle.py MODEL encode|decode|vocab  < in.jsonl > out.jsonl

encode: each input line is a JSON string; prints sp.encode(text) as a JSON array.
decode: each input line is a JSON array of ids; prints sp.decode(ids) as a JSON string.
vocab:  no input; prints one line per piece: [piece, score, type], where type is
        1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; then one line
        {"unk": .., "bos": .., "eos": .., "pad": ..}.
"""
import json
import sys

import sentencepiece as spm


def piece_type(sp, i):
    if sp.is_unknown(i):
        return 2
    if sp.is_control(i):
        return 3
    if sp.is_unused(i):
        return 5
    if sp.is_byte(i):
        return 6
    return 1  # normal and user-defined look alike through this API


def main():
    model, op = sys.argv[1], sys.argv[2]
    sp = spm.SentencePieceProcessor(model_file=model)
    out = sys.stdout
    if op == 'encode':
        for line in sys.stdin:
            out.write(json.dumps(sp.encode(json.loads(line))) + '\n')
    elif op == 'decode':
        for line in sys.stdin:
            out.write(json.dumps(sp.decode(json.loads(line)), ensure_ascii=False) + '\n')
    elif op == 'vocab':
        for i in range(sp.get_piece_size()):
            out.write(json.dumps([sp.id_to_piece(i), sp.get_score(i), piece_type(sp, i)], ensure_ascii=False) + '\n')
        out.write(json.dumps({'unk': sp.unk_id(), 'bos': sp.bos_id(), 'eos': sp.eos_id(), 'pad': sp.pad_id()}) + '\n')
    else:
        sys.exit(f'unknown operation {op}')


main()
