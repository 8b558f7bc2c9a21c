#!/usr/bin/python3
"""Trains the byte-level BPE tokenizer of the tiny sample model on samples/data/corpus.txt and writes a Hugging Face
tokenizer.json (GPT-2 style: ByteLevel pre-tokenizer with its regex, ByteLevel decoder) and a tokenizer_config.json
with a ChatML chat template. Deterministic (ties broken by the pair's text), standard library only.

The corpus is ASCII, so the ASCII reading of GPT-2's split pattern used here for counting words is exactly what the
tokenizer's own ByteLevel regex does on it; tests check the result against Hugging Face's tokenizers.

The chat files (JSONL with "messages") are counted as ChatML renderings, so the role names and the
template's line structure get tokens of their own too.

usage: train-sample-tokenizer.py VOCAB_SIZE OUT_DIR CORPUS.txt [CHATS.jsonl ...]
"""
import collections
import json
import re
import sys
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# GPT-2's pattern with \p{L} / \p{N} read over ASCII.
SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible byte → printable character map (the ByteLevel alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def main():
    vocab_size, out = int(sys.argv[1]), Path(sys.argv[2])
    texts = [Path(sys.argv[3]).read_text(encoding="utf-8")]
    for chats in sys.argv[4:]:
        for line in Path(chats).read_text(encoding="utf-8").splitlines():
            # Special tokens are matched before pre-tokenization, so only the text between them is counted.
            texts.extend(f"{m['role']}\n{m['content']}" for m in json.loads(line)["messages"])
            texts.append("\n")
    byte_map = bytes_to_unicode()

    words = collections.Counter()
    for text in texts:
        assert text.isascii(), "the sample texts must be ASCII (see the module docstring)"
        for line in text.splitlines(keepends=True):
            for piece in SPLIT.findall(line):
                words["".join(byte_map[b] for b in piece.encode("utf-8"))] += 1

    vocab = {}
    for s in SPECIALS:
        vocab[s] = len(vocab)
    for b in range(256):
        vocab[byte_map[b]] = len(vocab)

    splits = {w: list(w) for w in words}
    merges = []
    while len(vocab) < vocab_size:
        pairs = collections.Counter()
        for w, count in words.items():
            symbols = splits[w]
            for a, b in zip(symbols, symbols[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best_count = max(pairs.values())
        if best_count < 2:
            break
        best = min(p for p, c in pairs.items() if c == best_count)
        merged = best[0] + best[1]
        merges.append(best)
        vocab[merged] = len(vocab)
        for w in words:
            symbols = splits[w]
            if len(symbols) < 2:
                continue
            i, out_symbols = 0, []
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == best[0] and symbols[i + 1] == best[1]:
                    out_symbols.append(merged)
                    i += 2
                else:
                    out_symbols.append(symbols[i])
                    i += 1
            splits[w] = out_symbols

    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for s in SPECIALS
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
            "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab,
            "merges": [[a, b] for a, b in merges],
        },
    }
    config = {
        "model_max_length": 512,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "chat_template": CHAT_TEMPLATE,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": False,
        "add_eos_token": False,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"vocab {len(vocab)} ({len(merges)} merges) from {sum(words.values())} words, {len(words)} distinct", file=sys.stderr)


if __name__ == "__main__":
    main()
