"""Tokenizers (char and word) and the Vocab that maps tokens to ids, counts included."""
from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator, Literal

import numpy as np

from .errors import WordmoreError
from .options import INTERNAL, opt

BOUNDARY = {"char": ".", "word": "<s>"}
TOKENIZER_VERSION = 2  # part of the cache key: bump when tokens could change
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

    @classmethod
    def load(cls, path, what: str = "") -> "Vocab":
        """Read a vocab.json, checked: one WordmoreError naming the file (or `what`) and what is wrong."""
        name = what or str(path)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except OSError as e:
            raise WordmoreError(f"{name}: cannot read it ({e.strerror or e})") from None
        except ValueError as e:  # not UTF-8 or not JSON
            raise WordmoreError(f"{name}: not a vocabulary: not JSON ({e})") from None
        why = vocab_problem(d)
        if why:
            raise WordmoreError(f"{name}: not a vocabulary: {why}")
        return cls.from_dict(d)

    def save(self, path) -> None:
        """Write vocab.json (tokens with counts, frequency order)."""
        from .atomic import atomic_write_text
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))


def vocab_problem(d) -> str | None:
    """Why d is not a vocabulary's dict (to_dict's form), or None when Vocab.from_dict will take it."""
    keys = ("itos", "counts", "tokenizer")
    if not isinstance(d, dict):
        return f"expected a JSON object with {', '.join(keys)}, got a {type(d).__name__}"
    missing = [k for k in keys if k not in d]
    if missing:
        return f"missing key(s) {', '.join(missing)} (expected {', '.join(keys)})"
    itos, counts, tok = d["itos"], d["counts"], d["tokenizer"]
    if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
        return "itos is not a list of strings"
    if not isinstance(counts, list) or not all(type(c) is int and c >= 0 for c in counts):
        return "counts is not a list of integers >= 0"
    if len(itos) != len(counts):
        return f"{len(itos)} tokens in itos but {len(counts)} counts"
    if len(set(itos)) != len(itos):
        return "itos holds a token twice"
    names = {"level": str, "lowercase": bool, "punct": bool}
    if not isinstance(tok, dict) or set(tok) - set(names) or not all(
            isinstance(v, names[k]) for k, v in tok.items()):
        return "tokenizer is not a mapping of level (str), lowercase and punct (true/false)"
    level = tok.get("level", TokenizerConfig.level)
    if level not in BOUNDARY:
        return f"tokenizer level {level!r} is not char or word"
    if BOUNDARY[level] not in itos:
        return f"itos lacks the boundary token {BOUNDARY[level]!r} of a {level}-level vocabulary"
    return None


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


_SEP = "\ue000"  # closes each unit of a chunk; a chunk whose text holds it is tokenized unit by unit
_SEP_BYTES = _SEP.encode()
# ASCII bytes that never belong to a word become spaces (UTF-8 multi-byte sequences have no ASCII bytes)
_GAPS = bytes(c if chr(c).isalnum() or c == 39 or c >= 128 else 32 for c in range(256))


def encode_units(units: list[str], cfg: TokenizerConfig) -> tuple[list[str], np.ndarray, int]:
    """Tokenize a chunk of text units at once: (its distinct tokens, ids into them with -1 closing each
    non-empty unit, number of non-empty units). The tokens equal tokenize()'s, unit by unit."""
    if cfg.level == "char":
        return _encode_chars(units, cfg)
    if cfg.punct or sum(u.count(_SEP) for u in units if not u.isascii()):
        return _encode_slow(units, cfg)
    if cfg.lowercase:
        units = [u.lower() for u in units]
    units = [u if u.isascii() else unicodedata.normalize("NFC", u) for u in units]
    text = f" {_SEP} ".join(units) + f" {_SEP} "
    raw = text.encode("utf-8", "surrogatepass").replace("’".encode(), b"'").translate(_GAPS).split()
    first = dict.fromkeys(raw)  # distinct pieces, first-seen order
    for i, r in enumerate(first):
        first[r] = i
    rid = np.fromiter(map(first.__getitem__, raw), dtype=np.int64, count=len(raw))  # (n,) piece ids
    del raw
    tokens: dict[str, int] = {}
    flat, lens = [], np.zeros(len(first), dtype=np.int64)  # the tokens of each distinct piece, concatenated
    for i, r in enumerate(first):
        if r == _SEP_BYTES:
            toks = None
        elif r.isalnum():  # plain ASCII letters and digits: the piece is one token
            toks = [r.decode()]
        else:  # apostrophes or non-ASCII: the word regex decides, on this piece only
            toks = _WORD_RE.findall(r.decode("utf-8", "surrogatepass"))
        if toks is None:
            flat.append(-1)
            lens[i] = 1
        else:
            flat += [tokens.setdefault(t, len(tokens)) for t in toks]
            lens[i] = len(toks)
    flat = np.asarray(flat, dtype=np.int64)  # (sum lens,)
    start = np.cumsum(lens) - lens  # (pieces,) where each piece's tokens begin in flat
    n = lens[rid]  # (n,) tokens per occurrence
    total = int(n.sum())
    pos = np.repeat(start[rid] - (np.cumsum(n) - n), n) + np.arange(total)  # (total,) index into flat
    ids = flat[pos]  # (total,)
    return list(tokens), *_drop_empty_units(ids)


def _drop_empty_units(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Remove unit ends (-1) that close nothing: the first id, or right after another end."""
    end = ids < 0  # (n,)
    prev = np.concatenate([[True], end[:-1]])  # (n,)
    keep = ~(end & prev)
    ids = ids[keep].astype(np.int32)
    return ids, int((ids < 0).sum())


def _encode_chars(units: list[str], cfg: TokenizerConfig) -> tuple[list[str], np.ndarray, int]:
    """encode_units for characters: code points in numpy, NUL closing each unit."""
    text = "\x00".join(units)
    if text.count("\x00") != len(units) - 1:  # NUL inside a unit: no token, but lowercasing sees it
        text = "\x00".join((u.lower() if cfg.lowercase else u).replace("\x00", "") for u in units)
    elif cfg.lowercase:
        text = text.lower()
    codes = np.frombuffer((text + "\x00").encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (n,)
    codes = codes[(codes != 10) & (codes != 13)]
    uniq, inv = np.unique(codes, return_inverse=True)  # (V,), (n,)
    has_end = uniq[0] == 0
    ids = inv.astype(np.int64) - int(has_end)  # the NUL entry (sorted first) becomes -1
    return [chr(c) for c in uniq[int(has_end):]], *_drop_empty_units(ids)


def _encode_slow(units: list[str], cfg: TokenizerConfig) -> tuple[list[str], np.ndarray, int]:
    """encode_units unit by unit (punctuation tokens, or text holding the chunk separator)."""
    tokens: dict[str, int] = {}
    ids: list[int] = []
    for u in units:
        toks = tokenize(u, cfg)
        if toks:
            ids += [tokens.setdefault(t, len(tokens)) for t in toks]
            ids.append(-1)
    arr = np.asarray(ids, dtype=np.int32)
    return list(tokens), arr, int((arr < 0).sum())
