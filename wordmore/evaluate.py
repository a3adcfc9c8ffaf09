"""Benchmarks on embeddings: Google-format analogies and word-pair similarity, scored as gensim does."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embeddings import Embeddings
from .errors import WordmoreError


@dataclass
class Section:
    """Results of one ': section' of an analogy file."""

    name: str
    correct: int = 0
    seen: int = 0
    skipped: int = 0
    misses: list = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Fraction correct among the questions seen."""
        return self.correct / self.seen if self.seen else float("nan")


def _vocab_map(emb: Embeddings, restrict: int | None, case_insensitive: bool) -> dict:
    words = emb.words[:restrict] if restrict else emb.words
    if case_insensitive:  # the first (most frequent) spelling wins, as in gensim
        return {w.upper(): i for i, w in reversed(list(enumerate(words)))}
    return {w: i for i, w in enumerate(words)}


def read_analogies(path) -> list[tuple[str, list[tuple[int, list[str]]]]]:
    """Sections of a Google-format file: [(name, [(line_no, [a, b, c, d]), ...]), ...]."""
    p = Path(path)
    if not p.exists():
        raise WordmoreError(f"no such analogy file: {p}")
    sections: list = []
    with open(p, encoding="utf-8", errors="replace") as f:
        for ln, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(":"):
                sections.append((line.lstrip(": ").strip(), []))
                continue
            words = line.split()
            if len(words) != 4:
                raise WordmoreError(f"{p}:{ln}: expected 4 words 'a b c d', got {len(words)}: {line[:60]!r}")
            if not sections:
                sections.append(("(no section)", []))
            sections[-1][1].append((ln, words))
    if not any(qs for _, qs in sections):
        raise WordmoreError(f"{p}: no analogy questions in it")
    return sections


def evaluate_analogies(emb: Embeddings, path, restrict_vocab: int | None = 300000,
                       case_insensitive: bool = True, method: str = "add") -> dict:
    """Google analogies 'a b c d' scored as b - a + c -> d among the first restrict_vocab words."""
    sections_in = read_analogies(path)
    ok = _vocab_map(emb, restrict_vocab, case_insensitive)
    n = len(emb.words[:restrict_vocab] if restrict_vocab else emb.words)
    U = emb.unit[:n]  # (n, D)
    sections = []
    for name, qs in sections_in:
        sec = Section(name)
        quads, lines = [], []
        for ln, ws in qs:
            ws = [w.upper() for w in ws] if case_insensitive else ws
            if not all(w in ok for w in ws):
                sec.skipped += 1
                continue
            quads.append([ok[w] for w in ws])
            lines.append(ws)
        if quads:
            Q = np.asarray(quads)  # (q, 4)
            for s in range(0, len(Q), 256):
                q = Q[s:s + 256]
                if method == "add":
                    target = U[q[:, 1]] - U[q[:, 0]] + U[q[:, 2]]  # (q, D)
                    scores = target @ U.T  # (q, n)
                elif method == "mul":
                    sa, sb, sc = ((U[q[:, j]] @ U.T + 1) / 2 for j in (0, 1, 2))
                    scores = sb * sc / (sa + 1e-6)
                else:
                    raise WordmoreError(f"unknown method {method!r}: choose add or mul")
                rows = np.arange(len(q))
                for j in (0, 1, 2):
                    scores[rows, q[:, j]] = -np.inf
                pred = scores.argmax(1)
                for k in range(len(q)):
                    sec.seen += 1
                    if pred[k] == q[k, 3]:
                        sec.correct += 1
                    elif len(sec.misses) < 5:
                        sec.misses.append((*lines[s + k], emb.words[pred[k]]))
        sections.append(sec)
    def total(secs, name):
        t = Section(name)
        for s in secs:
            t.correct += s.correct
            t.seen += s.seen
            t.skipped += s.skipped
        return t
    sem = total([s for s in sections if not s.name.startswith("gram")], "semantic")
    syn = total([s for s in sections if s.name.startswith("gram")], "syntactic")
    tot = total(sections, "total")
    return {"file": str(path), "restrict_vocab": restrict_vocab, "method": method, "sections": sections,
            "semantic": sem, "syntactic": syn, "total": tot,
            "coverage": tot.seen / max(tot.seen + tot.skipped, 1)}


def evaluate_pairs(emb: Embeddings, path, restrict_vocab: int | None = 300000,
                   case_insensitive: bool = True, delimiter: str = "\t") -> dict:
    """Word-pair similarity (e.g. WordSim-353): Spearman and Pearson against human scores, with coverage."""
    from scipy import stats
    p = Path(path)
    if not p.exists():
        raise WordmoreError(f"no such word-pair file: {p}")
    ok = _vocab_map(emb, restrict_vocab, case_insensitive)
    gold, model, oov, total = [], [], 0, 0
    with open(p, encoding="utf-8", errors="replace") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split(delimiter)
            if len(parts) < 3:
                raise WordmoreError(f"{p}:{ln}: expected 'word1{delimiter!r}word2{delimiter!r}score'")
            a, b = parts[0], parts[1]
            try:
                score = float(parts[2])
            except ValueError:
                raise WordmoreError(f"{p}:{ln}: score {parts[2]!r} is not a number") from None
            total += 1
            if case_insensitive:
                a, b = a.upper(), b.upper()
            if a not in ok or b not in ok:
                oov += 1
                continue
            gold.append(score)
            model.append(float(emb.unit[ok[a]] @ emb.unit[ok[b]]))
    if len(gold) < 2:
        return {"file": str(p), "pairs": total, "seen": len(gold), "oov": oov,
                "spearman": float("nan"), "pearson": float("nan"), "coverage": len(gold) / max(total, 1)}
    return {"file": str(p), "pairs": total, "seen": len(gold), "oov": oov,
            "spearman": float(stats.spearmanr(gold, model).statistic),
            "pearson": float(stats.pearsonr(gold, model).statistic),
            "coverage": len(gold) / max(total, 1)}


def find_eval_file(name: str) -> Path | None:
    """An eval file beside $WORDMORE_DATA (its sibling eval/ folder), as a convenience."""
    env = os.environ.get("WORDMORE_DATA")
    if not env:
        return None
    for cand in (Path(env) / "eval" / name, Path(env).parent / "eval" / name):
        if cand.exists():
            return cand
    return None


def analogy_table(res: dict) -> str:
    """Per-section table with coverage."""
    from .embeddings import fmt_table
    rows = []
    for s in res["sections"] + [res["semantic"], res["syntactic"], res["total"]]:
        acc = f"{100 * s.accuracy:.1f}%" if s.seen else "-"
        rows.append((s.name, acc, f"{s.correct}/{s.seen}", s.skipped))
    return fmt_table(rows, ("section", "accuracy", "correct/seen", "skipped")) + \
        f"\ncoverage: {res['total'].seen}/{res['total'].seen + res['total'].skipped} questions " \
        f"({100 * res['coverage']:.1f}%), restrict_vocab={res['restrict_vocab']}, method={res['method']}"
