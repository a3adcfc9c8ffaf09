"""Word vectors without a torch model: queries, word2vec text/binary I/O, projector export."""
from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import WordmoreError

SPECIALS = ("<s>", "<unk>")


class Embeddings:
    """Named vectors in frequency order, with cosine queries on unit vectors."""

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
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            dup = next(w for i, w in enumerate(self.words) if self.index[w] != i)
            raise WordmoreError(f"{source or 'vectors'}: duplicate word {dup!r}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = vectors / np.maximum(norms, 1e-12)  # (V, D)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        """Vector width."""
        return self.vectors.shape[1]

    # ---- lookups
    def key(self, word: str) -> str | None:
        """The stored spelling of word under the model's case rule, or None."""
        if self.lowercase:
            word = word.lower()
        if word in self.index:
            return word
        if self.lowercase is None and word.lower() in self.index:
            return word.lower()
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
                raise WordmoreError(f"unknown word {w!r} (not among the {len(self):,} words of the model){hint}")
            ids.append(self.index[k])
        return ids

    # ---- queries
    def _top(self, scores: np.ndarray, k: int, exclude: set[int], skip_specials: bool = True):
        if skip_specials:
            for s in SPECIALS:
                if s in self.index:
                    exclude = exclude | {self.index[s]}
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

    def neighbors(self, word: str, k: int = 10, restrict: int | None = None):
        """k nearest words by cosine, the word itself excluded."""
        (i,) = self.require(word)
        scores = self._restricted(restrict) @ self.unit[i]  # (V,)
        return self._top(scores, k, {i})

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        i, j = self.require(a, b)
        return float(self.unit[i] @ self.unit[j])

    def analogy(self, a: str, b: str, c: str, k: int = 5, method: str = "add",
                restrict: int | None = None, skip_specials: bool = True):
        """a - b + c (fastText's order: king man woman -> queen), query words excluded."""
        ia, ib, ic = self.require(a, b, c)
        M = self._restricted(restrict)
        if method == "add":
            target = self.unit[ia] - self.unit[ib] + self.unit[ic]  # (D,)
            scores = M @ target
        elif method == "mul":  # 3CosMul (Levy & Goldberg 2014), gensim's most_similar_cosmul
            sa, sb, sc = ((M @ self.unit[i] + 1) / 2 for i in (ia, ib, ic))
            scores = sa * sc / (sb + 1e-6)
        else:
            raise WordmoreError(f"unknown analogy method {method!r}: choose add or mul")
        return self._top(scores, k, {ia, ib, ic}, skip_specials)

    def doesnt_match(self, words: list[str]) -> tuple[str, list[tuple[str, float]]]:
        """The word farthest from the mean of the others (gensim's doesnt_match), with each word's score."""
        if len(words) < 3:
            raise WordmoreError("odd-one-out needs at least 3 words")
        ids = self.require(*words)
        U = self.unit[ids]  # (n, D)
        mean = U.mean(0)
        mean /= max(np.linalg.norm(mean), 1e-12)
        sims = U @ mean
        order = np.argsort(sims)
        return words[int(order[0])], [(words[int(i)], float(sims[i])) for i in order]

    # ---- I/O
    @classmethod
    def load(cls, path) -> "Embeddings":
        """Read a run directory, a word2vec text (.vec/.txt, with or without header) or binary (.bin) file."""
        p = Path(path)
        if p.is_dir():
            cand = p / "embeddings.vec"
            if not cand.exists():
                raise WordmoreError(f"{p} holds no embeddings.vec (is it a finished run directory?)")
            emb = cls.load(cand)
            meta = p / "vocab.json"
            if meta.exists():
                with open(meta, encoding="utf-8") as f:
                    d = json.load(f)
                emb.lowercase = bool(d.get("tokenizer", {}).get("lowercase", True))
                if d.get("itos") == emb.words:
                    emb.counts = d.get("counts")
            return emb
        if not p.exists():
            raise WordmoreError(f"no such vectors file: {p}")
        with open(p, "rb") as f:
            head = f.read(4096)
        first = head.split(b"\n", 1)[0]
        parts = first.split()
        binary = p.suffix == ".bin" or (len(parts) == 2 and b"\0" in head)
        if binary:
            return cls._load_binary(p)
        return cls._load_text(p)

    @classmethod
    def _load_text(cls, p: Path) -> "Embeddings":
        words, rows = [], []
        with open(p, encoding="utf-8", errors="strict") as f:
            try:
                first = f.readline()
            except UnicodeDecodeError:
                raise WordmoreError(f"{p}: not UTF-8 text (a binary word2vec file should end in .bin)") from None
            parts = first.split()
            n = dim = None
            start = 1
            if len(parts) == 2 and all(x.lstrip("-").isdigit() for x in parts):
                n, dim = int(parts[0]), int(parts[1])
                if n < 0 or dim <= 0:
                    raise WordmoreError(f"{p}:1: bad header {first.strip()!r} (expected 'COUNT DIM')")
            elif len(parts) > 2:
                f.seek(0)
                start = 0
            else:
                raise WordmoreError(f"{p}:1: bad header {first.strip()[:60]!r} (expected 'COUNT DIM')")
            try:
                for ln, line in enumerate(f, start + 1):
                    parts = line.rstrip().split(" ")
                    if parts == [""]:
                        continue
                    if dim is None:
                        dim = len(parts) - 1
                    if len(parts) != dim + 1:
                        raise WordmoreError(f"{p}:{ln}: {len(parts) - 1} values, expected {dim}")
                    try:
                        vec = np.array(parts[1:], dtype=np.float32)
                    except ValueError:
                        raise WordmoreError(f"{p}:{ln}: a value is not a number") from None
                    if not np.isfinite(vec).all():
                        raise WordmoreError(f"{p}:{ln}: NaN or infinite value in the vector of {parts[0]!r}")
                    words.append(parts[0])
                    rows.append(vec)
            except UnicodeDecodeError:
                raise WordmoreError(f"{p}: invalid UTF-8 after line {len(words) + start}") from None
        if n is not None and n != len(words):
            raise WordmoreError(f"{p}:1: header says {n} words, file has {len(words)}")
        if not words:
            raise WordmoreError(f"{p}: no vectors")
        _check_dups(words, p, start + 1)
        return cls(words, np.stack(rows), source=str(p))

    @classmethod
    def _load_binary(cls, p: Path) -> "Embeddings":
        data = p.read_bytes()
        nl = data.find(b"\n")
        try:
            n, dim = (int(x) for x in data[:nl].split())
        except ValueError:
            raise WordmoreError(f"{p}:1: bad header (expected 'COUNT DIM')") from None
        if n < 0 or dim <= 0:
            raise WordmoreError(f"{p}:1: bad header (expected 'COUNT DIM')")
        pos, words = nl + 1, []
        vecs = np.empty((n, dim), dtype=np.float32)
        for i in range(n):
            while pos < len(data) and data[pos:pos + 1] in (b"\n", b" "):
                pos += 1
            sp = data.find(b" ", pos)
            end = sp + 1 + 4 * dim
            if sp < 0 or end > len(data):
                raise WordmoreError(f"{p}: truncated at vector {i + 1} of {n}")
            try:
                words.append(data[pos:sp].decode("utf-8"))
            except UnicodeDecodeError:
                raise WordmoreError(f"{p}: vector {i + 1}: word is not UTF-8") from None
            vecs[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=sp + 1)
            pos = end
        if not np.isfinite(vecs).all():
            bad = int(np.where(~np.isfinite(vecs).all(1))[0][0])
            raise WordmoreError(f"{p}: NaN or infinite value in the vector of {words[bad]!r}")
        _check_dups(words, p, None)
        return cls(words, vecs, source=str(p))

    def save_word2vec(self, path, binary: bool = False) -> None:
        """word2vec format as the C tool and gensim read it: 'COUNT DIM' header, then one word per row."""
        with atomic_path(path, "wb") as f:
            f.write(f"{len(self)} {self.dim}\n".encode())
            if binary:
                for w, v in zip(self.words, self.vectors):
                    f.write(w.encode("utf-8") + b" " + v.astype("<f4").tobytes() + b"\n")
            else:
                for w, v in zip(self.words, self.vectors):
                    f.write((w + " " + " ".join("%.9g" % x for x in v) + "\n").encode("utf-8"))

    def save_projector(self, folder, prefix: str = "") -> tuple[Path, Path]:
        """TensorBoard projector files: vectors.tsv and metadata.tsv (one column, so no header)."""
        folder = Path(folder)
        vec_p, meta_p = folder / f"{prefix}vectors.tsv", folder / f"{prefix}metadata.tsv"
        with atomic_path(vec_p, "w", encoding="utf-8", newline="\n") as f:
            for v in self.vectors:
                f.write("\t".join("%.6g" % x for x in v) + "\n")
        with atomic_path(meta_p, "w", encoding="utf-8", newline="\n") as f:
            for w in self.words:
                f.write((w.replace("\t", " ").replace("\n", " ") or " ") + "\n")
        return vec_p, meta_p


def _check_dups(words: list[str], p: Path, first_line: int | None) -> None:
    seen: dict[str, int] = {}
    for i, w in enumerate(words):
        if w in seen:
            where = f"{p}:{first_line + i}" if first_line else str(p)
            raise WordmoreError(f"{where}: duplicate word {w!r} (first at entry {seen[w] + 1})")
        seen[w] = i


def fmt_table(rows: list[tuple], headers: tuple) -> str:
    """A plain aligned text table."""
    cells = [tuple(str(c) if not isinstance(c, float) or not math.isfinite(c) else f"{c:.4f}" for c in r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
