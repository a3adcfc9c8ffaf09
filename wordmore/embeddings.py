"""Word vectors without a torch model: queries, word2vec text/binary I/O, projector export."""
from __future__ import annotations

import difflib
import math
from pathlib import Path

import numpy as np

from .errors import WordmoreError
from .vecio import check_dups as _check_dups  # noqa: F401 (old name)
from .vecio import read_vectors, unvisible, visible, write_projector, write_word2vec

SPECIALS = ("<s>", "<unk>")


class Embeddings:
    """Named vectors in frequency order, with cosine queries on unit vectors."""

    limited = False  # read with --limit: fewer words than the file holds

    def __init__(self, words: list[str], vectors: np.ndarray, lowercase: bool | None = None,
                 counts: list[int] | None = None, source: str = ""):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise WordmoreError(f"{source or 'vectors'}: {len(words)} words but vectors of shape {vectors.shape}")
        self.words = list(words)
        self.vectors = vectors
        self.lowercase = lowercase
        self.counts = counts
        self.source = source
        self.index = dict(zip(self.words, range(len(self.words))))
        if len(self.index) != len(self.words):
            dup = next(w for i, w in enumerate(self.words) if self.index[w] != i)
            raise WordmoreError(f"{source or 'vectors'}: duplicate word {dup!r}")
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))[:, None]  # (V, 1)
        self.unit = vectors / np.maximum(norms, 1e-12)  # (V, D)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        """Vector width."""
        return self.vectors.shape[1]

    # ---- lookups
    def key(self, word: str) -> str | None:
        """The stored spelling of word under the model's case rule (whitespace also as its stand-in), or None."""
        for w in dict.fromkeys((word, unvisible(word), visible(word))):
            if self.lowercase:
                w = w.lower()
            if w in self.index:
                return w
            if self.lowercase is None and w.lower() in self.index:
                return w.lower()
        return None

    def suggest(self, word: str, n: int = 3) -> list[str]:
        """Closest known spellings of an unknown word."""
        w = word.lower() if self.lowercase else word
        pool = [x for x in self.words[:100000] if x not in SPECIALS]
        return difflib.get_close_matches(w, pool, n=n, cutoff=0.6)

    def require(self, *words: str) -> list[int]:
        """Row ids of words; an unknown word raises with suggestions."""
        ids = []
        for w in words:
            k = self.key(w)
            if k is None:
                sug = self.suggest(w)
                hint = f"; did you mean {', '.join(sug)}?" if sug else ""
                among = f"the first {len(self):,} words, read with --limit" if self.limited else \
                    f"the {len(self):,} words of the model"
                raise WordmoreError(f"unknown word {w!r} (not among {among}){hint}")
            ids.append(self.index[k])
        return ids

    @property
    def n_words(self) -> int:
        """The words a query can name or answer: every row but the specials (<s>, <unk>)."""
        return len(self) - sum(s in self.index for s in SPECIALS)

    def check_k(self, k: int) -> int:
        """k, when the model has that many words besides the one asked about; else a WordmoreError."""
        n = self.n_words - 1
        if k > n:
            raise WordmoreError(f"-k {k} is larger than the vocabulary: the model has {n:,} words besides the one "
                                f"asked about")
        return k

    # ---- queries
    def _top(self, scores: np.ndarray, k: int, exclude: set[int], skip_specials: bool = True):
        if skip_specials:
            exclude = exclude | {self.index[s] for s in SPECIALS if s in self.index}
        exclude = {i for i in exclude if i < len(scores)}
        k = min(k, len(scores) - len(exclude))
        if k <= 0:
            return []
        m = min(len(scores), k + len(exclude))
        cand = np.argpartition(-scores, m - 1)[:m] if m < len(scores) else np.arange(len(scores))
        cand = cand[np.lexsort((cand, -scores[cand]))]
        out = [int(i) for i in cand if int(i) not in exclude][:k]
        return [(self.words[i], float(scores[i])) for i in out]

    def _restricted(self, restrict: int | None) -> np.ndarray:
        return self.unit if not restrict else self.unit[:restrict]

    def most_similar(self, positive=(), negative=(), k: int = 10, restrict: int | None = None,
                     method: str = "add", skip_specials: bool = True, label: str | None = None):
        """gensim's most_similar (add) or most_similar_cosmul (mul), query words excluded; label names it in errors."""
        if not positive and not negative:
            raise WordmoreError("empty query: give at least one word")
        pos, neg = self.require(*positive), self.require(*negative)
        if np.linalg.norm(self.unit[pos].sum(0) - self.unit[neg].sum(0)) < 1e-4:
            label = label or expression([*positive, *negative], ["+"] * len(pos) + ["-"] * len(neg))
            raise WordmoreError(f"the query vector is zero ({label}): nothing to rank by")
        scores = similar_scores(self._restricted(restrict), self.unit[pos][None], self.unit[neg][None], method)[0]
        return self._top(scores, k, set(pos) | set(neg), skip_specials)

    def neighbors(self, word: str, k: int = 10, restrict: int | None = None):
        """k nearest words by cosine, the word itself excluded."""
        return self.most_similar([word], (), k, restrict)

    def analogy(self, a: str, b: str, c: str, k: int = 5, method: str = "add",
                restrict: int | None = None, skip_specials: bool = True):
        """a - b + c (fastText's order: king man woman -> queen), query words excluded; gensim's scores."""
        return self.most_similar([a, c], [b], k, restrict, method, skip_specials)

    def by_vector(self, vector, k: int = 10, restrict: int | None = None):
        """k words nearest a vector by cosine (gensim's similar_by_vector)."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)  # (D,)
        if v.shape[0] != self.dim:
            raise WordmoreError(f"the vector has {v.shape[0]} numbers, the model's vectors {self.dim}")
        if not np.isfinite(v).all() or not v.any():
            raise WordmoreError("the vector must be finite and not all zero")
        scores = self._restricted(restrict) @ (v / np.linalg.norm(v))  # (V,)
        return self._top(scores, k, set())

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        i, j = self.require(a, b)
        return float(self.unit[i] @ self.unit[j])

    def doesnt_match(self, words: list[str]) -> tuple[str, list[tuple[str, float]]]:
        """The word farthest from the mean of the others (gensim's doesnt_match), with each word's score."""
        if len(words) < 3:
            raise WordmoreError("odd-one-out needs at least 3 words")
        ids = self.require(*words)
        U = self.unit[ids]  # (n, D)
        mean = U.mean(0)
        mean /= max(np.linalg.norm(mean), 1e-12)
        sims = U @ mean  # (n,)
        order = np.argsort(sims)
        return words[int(order[0])], [(words[int(i)], float(sims[i])) for i in order]

    def describe(self) -> str:
        """Which model answers: its source and size, for the first line of every query."""
        return f"{self.source or '(in memory)'} ({len(self):,} words x {self.dim})"

    # ---- I/O
    @classmethod
    def load(cls, path, limit: int | None = None) -> "Embeddings":
        """A run directory, word2vec text (.vec/.txt, with or without header) or binary (.bin), gensim .kv."""
        emb = cls._read(path, limit)
        emb.limited = limit is not None and len(emb) == limit  # errors then say the words are those read
        return emb

    @classmethod
    def _read(cls, path, limit: int | None) -> "Embeddings":
        from .runs import read_vocab_meta
        p = Path(path)
        if p.is_dir() and (p / "embeddings.vec").exists():
            words, vecs = read_vectors(p / "embeddings.vec", limit)
            meta = read_vocab_meta(p / "vocab.json")
            if meta is None:
                return cls(words, vecs, source=str(p))
            itos = meta["itos"][:len(words)]
            same = itos == words or [visible(w) for w in itos] == words
            counts = meta["counts"][:len(words)] if same and meta["counts"] else None
            return cls(itos if same else words, vecs, meta["lowercase"], counts, str(p))
        if p.is_dir():
            raise WordmoreError(f"{p} holds no embeddings.vec (is it a finished run directory?)")
        words, vecs = read_vectors(p, limit)
        return cls(words, vecs, source=str(p))

    def save_word2vec(self, path, binary: bool = False, force: bool = True) -> None:
        """word2vec text or binary (gensim and the C tool read both); force=False refuses an existing file."""
        write_word2vec(path, self.words, self.vectors, binary, force)

    def save_projector(self, folder, prefix: str = "", force: bool = True) -> tuple[Path, Path]:
        """TensorBoard projector files vectors.tsv and metadata.tsv; force=False refuses existing ones."""
        return write_projector(folder, self.words, self.vectors, prefix, force)


def all_but_the_top(V: np.ndarray, d: int) -> np.ndarray:
    """V centred and without its top d principal directions (Mu & Viswanath 2018, "All-but-the-Top", ICLR)."""
    X = V.astype(np.float64) - V.mean(0, dtype=np.float64)  # (n, D)
    if d > 0:
        top = np.linalg.svd(X, full_matrices=False)[2][:d]  # (d, D)
        X -= (X @ top.T) @ top
    return X.astype(np.float32)


def join_tables(tables: list[np.ndarray], cross: float = 0.0) -> np.ndarray:
    """Word vectors from several per-word tables: each centred, its top direction (the paper's D/100 for D=100)
    removed and its rows set to unit length, side by side; cosines are then the mean of the tables' cosines.

    cross (two tables in one space, as context and output rows): cosines are those of the kernel
    a.a' + b.b' + cross (a.b' + b.a'), where one word's context row meets the other's output row (1: the
    cosine of the sums a + b, Levy et al. 2015's w + c); each half leans toward the other by t, in the same width."""
    parts = []
    for T in tables:
        X = all_but_the_top(T, max(1, round(T.shape[1] / 100)))  # (V, D)
        parts.append(X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12))
    if not cross or len(parts) == 1:  # one table (tied): nothing to cross
        return np.hstack(parts) / np.sqrt(len(parts))  # (V, sum D) unit rows
    if len(parts) != 2 or parts[0].shape != parts[1].shape:
        raise WordmoreError("cross needs two tables of one width")
    a, b = parts
    t = (1 - math.sqrt(1 - cross * cross)) / cross  # 2t / (1 + t^2) = cross
    J = np.hstack([a + t * b, b + t * a])  # (V, 2D): J.J' = (1 + t^2)(a.a' + b.b') + 2t(a.b' + b.a')
    return J / np.maximum(np.linalg.norm(J, axis=1, keepdims=True), 1e-12)


def similar_scores(U: np.ndarray, pos: np.ndarray, neg: np.ndarray, method: str = "add") -> np.ndarray:
    """Scores (q, n) of the rows of U (n, D) for q questions of unit vectors pos (q, P, D) and neg (q, N, D).

    add: cosine to the normalised mean of +pos and -neg (gensim's most_similar, 3CosAdd);
    mul: prod over pos of (1 + cos) / 2 divided by (prod over neg + 1e-6) (gensim's most_similar_cosmul, 3CosMul).
    """
    if method == "add":
        target = pos.sum(1) - neg.sum(1)  # (q, D)
        scores = target @ U.T  # (q, n)
        return scores / np.maximum(np.linalg.norm(target, axis=1), 1e-12)[:, None]
    if method == "mul":
        num = np.ones((pos.shape[0], U.shape[0]), dtype=np.float32)  # (q, n)
        den = np.ones_like(num)
        for j in range(pos.shape[1]):
            num *= (pos[:, j] @ U.T + 1) / 2
        for j in range(neg.shape[1]):
            den *= (neg[:, j] @ U.T + 1) / 2
        return num / (den + 1e-6)
    raise WordmoreError(f"unknown analogy method {method!r}: choose add or mul")


def expression(words: list[str], signs: list[str]) -> str:
    """Words with their signs in the order given: king - man + woman (a leading '+' left out)."""
    out: list[str] = []
    for s, w in zip(signs, words):
        out += [s, w] if out or s == "-" else [w]
    return " ".join(out)


def fmt_table(rows: list[tuple], headers: tuple) -> str:
    """A plain aligned text table; None shows as -."""
    cells = [tuple("-" if c is None else f"{c:.4f}" if isinstance(c, float) and math.isfinite(c) else str(c) for c in r)
             for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
