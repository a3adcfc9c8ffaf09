"""Benchmarks on embeddings: Google-format analogies and word-pair similarity, scored as gensim does."""
from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embeddings import Embeddings, similar_scores
from .errors import WordmoreError

DEFAULT_RESTRICT = 30000  # the README's and the report's
MIN_PAIRS = 3  # word-pair scores are given from this many covered pairs on


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


def _score_section(emb: Embeddings, U: np.ndarray, ok: dict, name: str, qs: list, case_insensitive: bool,
                   method: str) -> Section:
    """One section's questions, 256 at a time through the one scoring function."""
    sec = Section(name)
    quads, lines = [], []
    for ln, ws in qs:
        ws = [w.upper() for w in ws] if case_insensitive else ws
        if not all(w in ok for w in ws):
            sec.skipped += 1
            continue
        quads.append([ok[w] for w in ws])
        lines.append(ws)
    Q = np.asarray(quads, dtype=np.int64).reshape(-1, 4)  # (q, 4)
    for s in range(0, len(Q), 256):
        q = Q[s:s + 256]
        scores = similar_scores(U, U[q[:, [1, 2]]], U[q[:, [0]]], method)  # (q, n): b - a + c
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
    return sec


def evaluate_analogies(emb: Embeddings, path, restrict_vocab: int | None = DEFAULT_RESTRICT,
                       case_insensitive: bool = True, method: str = "add") -> dict:
    """Google analogies 'a b c d' scored as b - a + c -> d among the first restrict_vocab words."""
    sections_in = read_analogies(path)
    ok = _vocab_map(emb, restrict_vocab, case_insensitive)
    n = len(emb.words[:restrict_vocab] if restrict_vocab else emb.words)
    U = emb.unit[:n]  # (n, D)
    sections = [_score_section(emb, U, ok, name, qs, case_insensitive, method) for name, qs in sections_in]
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


def read_pairs(path, delimiter: str = "\t") -> list[tuple[str, str, float]]:
    """Word pairs with human scores (word1, word2, score per line; '#' lines, and a first line without a
    number, such as WordSim's 'Word 1  Word 2  Human (mean)' header, skipped)."""
    p = Path(path)
    if not p.exists():
        raise WordmoreError(f"no such word-pair file: {p}")
    pairs, first = [], True
    with open(p, encoding="utf-8", errors="replace") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split(delimiter)
            if len(parts) < 3:
                raise WordmoreError(f"{p}:{ln}: expected 'word1{delimiter!r}word2{delimiter!r}score'")
            try:
                score = float(parts[2])
            except ValueError:
                if first:
                    first = False
                    continue
                raise WordmoreError(f"{p}:{ln}: score {parts[2]!r} is not a number") from None
            if not math.isfinite(score):
                raise WordmoreError(f"{p}:{ln}: score {parts[2]!r} is not a finite number")
            first = False
            pairs.append((parts[0], parts[1], score))
    if not pairs:
        raise WordmoreError(f"{p}: no word pairs in it (expected 'word1{delimiter!r}word2{delimiter!r}score' lines)")
    return pairs


def evaluate_pairs(emb: Embeddings, path, restrict_vocab: int | None = DEFAULT_RESTRICT,
                   case_insensitive: bool = True, delimiter: str = "\t") -> dict:
    """Word-pair similarity (e.g. WordSim-353): Spearman and Pearson against human scores, with coverage."""
    ok = _vocab_map(emb, restrict_vocab, case_insensitive)
    gold, model, pairs = [], [], read_pairs(path, delimiter)
    for a, b, score in pairs:
        if case_insensitive:
            a, b = a.upper(), b.upper()
        if a in ok and b in ok:
            gold.append(score)
            model.append(float(emb.unit[ok[a]] @ emb.unit[ok[b]]))
    total, seen = len(pairs), len(gold)
    rho, r = _correlation("spearmanr", gold, model), _correlation("pearsonr", gold, model)
    note = None if rho is not None else f"no correlation on {seen} covered pair{'s' * (seen != 1)}: " + (
        f"it needs {MIN_PAIRS}" if seen < MIN_PAIRS else "the human scores or the cosines are all equal")
    return {"file": str(path), "pairs": total, "seen": seen, "oov": total - seen, "spearman": rho, "pearson": r,
            "note": note, "coverage": seen / total}


def _correlation(name: str, x: list, y: list) -> float | None:
    """scipy's correlation; None under MIN_PAIRS pairs (two always give +-1) or where one side is constant."""
    import warnings
    from scipy import stats
    if len(x) < MIN_PAIRS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on constant input; None says it
        r = float(getattr(stats, name)(x, y).statistic)
    return r if math.isfinite(r) else None


def _eval_dirs() -> list[Path]:
    """Where a bare eval file name is looked for, after the current folder."""
    dirs = []
    env = os.environ.get("WORDMORE_DATA")
    if env:
        dirs += [Path(env) / "eval", Path(env).parent / "eval"]
    spec = importlib.util.find_spec("gensim")  # gensim ships both standard files as test data
    if spec and spec.origin:
        dirs.append(Path(spec.origin).parent / "test" / "test_data")
    return dirs


def find_eval_file(name: str) -> Path | None:
    """An eval file beside $WORDMORE_DATA (its eval/ folder or its sibling), or in gensim's test data."""
    for d in _eval_dirs():
        if (d / name).is_file():
            return d / name
    return None


def resolve_eval_file(arg: str | None, default_name: str, what: str) -> Path | None:
    """--analogies/--similarity: the path as given, else a bare name looked up like the default; None if unset."""
    if arg is None:
        return find_eval_file(default_name)
    p = Path(arg)
    if p.is_file():
        return p
    if p.is_dir():
        raise WordmoreError(f"{what} file {p} is a folder")
    if p.name != arg:  # a path, not a bare name: nothing to look up
        raise WordmoreError(f"no such {what} file: {p}")
    if found := find_eval_file(arg):
        return found
    looked = ", ".join(str(d) for d in _eval_dirs()) or "nowhere else: $WORDMORE_DATA is unset"
    raise WordmoreError(f"no such {what} file: {p} (looked in the current folder and {looked})")


def eval_files(analogies: str | None, similarity: str | None) -> tuple[Path | None, Path | None]:
    """Both eval files resolved and checked before any work; an error if neither is given nor found."""
    ana = resolve_eval_file(analogies, "questions-words.txt", "analogy")
    sim = resolve_eval_file(similarity, "wordsim353.tsv", "word-pair")
    if ana is None and sim is None:
        raise WordmoreError("nothing to evaluate: pass --analogies FILE and/or --similarity FILE "
                            "(questions-words.txt and wordsim353.tsv are found beside $WORDMORE_DATA)")
    if ana is not None:
        read_analogies(ana)
    if sim is not None:
        read_pairs(sim)
    return ana, sim


def analogy_json(res: dict) -> dict:
    """evaluate_analogies' result as plain JSON types."""
    def part(s: Section) -> dict:
        return {"correct": s.correct, "seen": s.seen, "skipped": s.skipped,
                "accuracy": s.accuracy if s.seen else None}
    return {"file": res["file"], "restrict_vocab": res["restrict_vocab"], "method": res["method"],
            "sections": {s.name: part(s) for s in res["sections"]},
            **{k: part(res[k]) for k in ("semantic", "syntactic", "total")}, "coverage": res["coverage"]}


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
