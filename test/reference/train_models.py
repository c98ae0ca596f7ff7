#!/usr/bin/python3
"""Trains small SentencePiece models with Debian's python3-sentencepiece, for tests of
tokenizer features that Llama 2's model does not use.

usage: train_models.py CORPUS OUTDIR

Writes into OUTDIR:
  bpe_nfkc.model     BPE, nmt_nfkc normalization, extra whitespace removed, no byte fallback
  bpe_bytes.model    BPE, byte fallback, user-defined and control symbols, no dummy prefix,
                     NFKC normalization, whitespace kept
  unigram.model      a unigram model (which the tokenizer must refuse)
"""
import os
import sys

import sentencepiece as spm


def train(corpus, out, **options):
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=out, minloglevel=2, **options)


def main():
    corpus, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    train(corpus, os.path.join(outdir, 'bpe_nfkc'), model_type='bpe', vocab_size=800,
          character_coverage=0.98)
    train(corpus, os.path.join(outdir, 'bpe_bytes'), model_type='bpe', vocab_size=900,
          byte_fallback=True, character_coverage=0.98, normalization_rule_name='nfkc',
          add_dummy_prefix=False, remove_extra_whitespaces=False,
          user_defined_symbols=['<sep>', 'xyz', '\u2581the\u2581'], control_symbols=['<ctl>'])
    train(corpus, os.path.join(outdir, 'unigram'), model_type='unigram', vocab_size=300)


main()
