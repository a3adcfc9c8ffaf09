"""Tokenizers (char and word) and the Vocab that maps tokens to ids, counts included."""
from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator, Literal

from .options import INTERNAL, opt

BOUNDARY = {"char": ".", "word": "<s>"}
UNK = "<unk>"

# a word: letters/digits (no underscore), with apostrophes kept inside words ("don't", "king's")
_WORD = r"[^\W_]+(?:['’][^\W_]+)*"
_WORD_RE = re.compile(_WORD)
_WORD_PUNCT_RE = re.compile(_WORD + r"|[^\w\s]")


@dataclass
class TokenizerConfig:
    """How text becomes tokens; saved with every vocabulary."""

    level: Literal["char", "word"] = field(default="word", metadata=INTERNAL)
    lowercase: bool = opt(True, "lowercase the text (--no-lowercase keeps case)")
    punct: bool = opt(False, "word level: keep punctuation marks as tokens")

    def __post_init__(self):
        if self.level not in ("char", "word"):
            raise ValueError(f"unknown level {self.level!r}: choose char or word")


def tokenize(text: str, cfg: TokenizerConfig) -> list[str]:
    """Split one text unit into tokens (characters or words)."""
    if cfg.lowercase:
        text = text.lower()
    if cfg.level == "char":
        return [c for c in text if c not in "\r\n" and c != "\x00"]
    text = unicodedata.normalize("NFC", text)
    toks = (_WORD_PUNCT_RE if cfg.punct else _WORD_RE).findall(text)
    return [t.replace("’", "'") for t in toks]


class Vocab:
    """Token <-> id table; specials (boundary, <unk>) are real entries with counts."""

    def __init__(self, itos: list[str], counts: list[int], tokenizer: TokenizerConfig):
        if len(itos) != len(counts):
            raise ValueError("vocab: itos and counts differ in length")
        if len(set(itos)) != len(itos):
            raise ValueError("vocab: duplicate tokens")
        self.itos = list(itos)
        self.counts = [int(c) for c in counts]
        self.tokenizer = tokenizer
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.boundary = BOUNDARY[tokenizer.level]
        self.boundary_id = self.stoi[self.boundary]
        self.unk_id = self.stoi.get(UNK)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, tok: str) -> bool:
        return tok in self.stoi

    @classmethod
    def build(cls, counter: Counter, tokenizer: TokenizerConfig, n_units: int = 0,
              min_count: int = 1, max_vocab: int | None = None) -> "Vocab":
        """Build from token counts; n_units is the number of boundary tokens in the stream."""
        specials = [BOUNDARY[tokenizer.level]]
        kept = [(t, c) for t, c in counter.items() if c >= min_count and t not in (UNK, specials[0])]
        if tokenizer.level == "char":
            kept.sort(key=lambda tc: tc[0])  # makemore order: '.', then characters sorted
        else:
            kept.sort(key=lambda tc: (-tc[1], tc[0]))  # by frequency (adaptive softmax needs this)
        room = None if max_vocab is None else max(0, max_vocab - len(specials) - 1)
        dropped = kept[room:] if room is not None else []
        kept = kept[:room] if room is not None else kept
        n_unk = sum(c for t, c in counter.items() if c < min_count) + sum(c for _, c in dropped)
        n_unk += counter.get(UNK, 0)
        itos, counts = [specials[0]], [n_units]
        if tokenizer.level == "word" or n_unk > 0:
            itos.append(UNK)
            counts.append(n_unk)
        itos += [t for t, _ in kept]
        counts += [c for _, c in kept]
        return cls(itos, counts, tokenizer)

    def n_words(self) -> int:
        """Number of entries that are not specials."""
        return sum(1 for t in self.itos if t not in (self.boundary, UNK))

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; unknown tokens map to <unk> (or raise when there is none)."""
        stoi, unk = self.stoi, self.unk_id
        if unk is None:
            return [stoi[t] for t in tokens]
        return [stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ids."""
        return [self.itos[i] for i in ids]

    def to_dict(self) -> dict:
        """Plain-types form for checkpoints and JSON."""
        return {"itos": self.itos, "counts": self.counts, "tokenizer": asdict(self.tokenizer)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        """Inverse of to_dict."""
        return cls(d["itos"], d["counts"], TokenizerConfig(**d["tokenizer"]))

    def save(self, path) -> None:
        """Write vocab.json (tokens with counts, frequency order)."""
        from .atomic import atomic_write_text
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))


def count_tokens(texts: Iterable[str], cfg: TokenizerConfig) -> tuple[Counter, int, int]:
    """Count tokens over text units; returns (counter, n_units, n_tokens)."""
    counter: Counter = Counter()
    n_units = n_tokens = 0
    for t in texts:
        toks = tokenize(t, cfg)
        if not toks:
            continue
        counter.update(toks)
        n_units += 1
        n_tokens += len(toks)
    return counter, n_units, n_tokens


def iter_units(texts: Iterable[str], cfg: TokenizerConfig) -> Iterator[list[str]]:
    """Tokenized non-empty units."""
    for t in texts:
        toks = tokenize(t, cfg)
        if toks:
            yield toks
