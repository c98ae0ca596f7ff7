#!/usr/bin/python3
"""MindFormers' alpaca_converter output, written from SPEC.md section 2: the oracle for the
converter's bytes (Python's json.dump with indent=2 and ensure_ascii=False).

usage: alpaca_converter_ref.py ALPACA_JSON OUT_JSON
"""
import json
import sys

WITH_INPUT = ('Below is an instruction that describes a task, paired with an input that provides further context. '
              'Write a response that appropriately completes the request.\n\n'
              '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:')
WITHOUT_INPUT = ('Below is an instruction that describes a task. '
                 'Write a response that appropriately completes the request.\n\n'
                 '### Instruction:\n{instruction}\n\n### Response:')


def main():
    with open(sys.argv[1], encoding='utf-8') as f:
        records = json.load(f)
    out = []
    for n, r in enumerate(records, start=1):
        prompt = (WITH_INPUT if r.get('input', '') != '' else WITHOUT_INPUT).format_map(r)
        out.append({'id': str(n), 'conversations': [{'from': 'human', 'value': prompt},
                                                     {'from': 'gpt', 'value': r['output']}]})
    with open(sys.argv[2], 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=2)


main()
