"""The question the tool exists for: are king, queen, prince and princess near each other? Word lists and checks."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import combinations

from .embeddings import Embeddings

ROYALS = ("king", "queen", "prince", "princess")
GENDER_PAIRS = (("man", "woman"), ("king", "queen"), ("boy", "girl"), ("prince", "princess"))
DEFAULT_WORDS = ("king", "queen", "prince", "princess", "man", "woman", "boy", "girl")  # the pictures' highlights


def royal_check(emb: Embeddings, k: int = 10) -> dict:
    """Each royal's top k with the ranks of the other three, and whether king - man + woman gives queen."""
    rows, ok = [], True
    for w in ROYALS:
        nb = [x for x, _ in emb.neighbors(w, k)]
        others = [o for o in ROYALS if o != w]
        missing = [o for o in others if o not in nb]
        ok &= not missing
        rows.append({"word": w, "top": nb, "missing_royals": missing,
                     "ranks": {o: (nb.index(o) + 1 if o in nb else None) for o in others}})
    ana = emb.analogy("king", "man", "woman", 5)
    queen_first = bool(ana) and ana[0][0] == "queen"
    return {"rows": rows, "all_in_top": ok, "analogy": ana, "queen_first": queen_first,
            "pass": ok and queen_first}


def royal_report(emb: Embeddings, k: int = 10) -> str:
    """The royals' neighbours and king - man + woman, as printed after a word run."""
    lines = ["", "Are king, queen, prince and princess near each other?"]
    present = [w for w in ROYALS if emb.key(w) is not None]
    for w in present:
        nb = emb.neighbors(w, k)
        lines.append(f"  {w:>9}: " + ", ".join(f"{x} {s:.2f}" for x, s in nb))
    missing = [w for w in ROYALS if w not in present]
    if missing:
        lines.append(f"  (not in the vocabulary: {', '.join(missing)})")
    if all(emb.key(w) is not None for w in ("king", "man", "woman")):
        res = emb.analogy("king", "man", "woman", 5)
        lines.append("  king - man + woman = " + ", ".join(f"{x} {s:.2f}" for x, s in res))
    return "\n".join(lines)


def royal_geometry(emb: Embeddings) -> dict:
    """Two figures of the picture people look for: the royals' mean pairwise cosine, and the mean pairwise
    cosine of the gender offsets (woman - man, queen - king, girl - boy, princess - prince); None if a word is missing."""
    import numpy as np
    if any(emb.key(w) is None for pair in GENDER_PAIRS for w in pair) or any(emb.key(w) is None for w in ROYALS):
        return {"royal_cosine": None, "offset_cosine": None}
    unit = lambda w: emb.unit[emb.index[emb.key(w)]]  # noqa: E731  (D,)

    def mean_pairwise(vs) -> float:
        U = np.stack([v / max(np.linalg.norm(v), 1e-12) for v in vs])  # (n, D)
        S = U @ U.T  # (n, n)
        return float(S[np.triu_indices(len(vs), 1)].mean())
    return {"royal_cosine": mean_pairwise([unit(w) for w in ROYALS]),
            "offset_cosine": mean_pairwise([unit(b) - unit(a) for a, b in GENDER_PAIRS])}


def royal_counts(units: Iterable[list[str]], windows: tuple[int, ...] = (4, 10)) -> dict:
    """Each royal's count in tokenized text, and each pair's co-occurrences within each window in one unit."""
    words, near, reach = Counter(), {w: Counter() for w in windows}, max(windows)
    for s in units:
        at = [(i, t) for i, t in enumerate(s) if t in ROYALS]
        words.update(t for _, t in at)
        for n, (i, a) in enumerate(at):
            for j, b in at[n + 1:]:
                if j - i > reach:
                    break
                for w in windows:
                    if a != b and j - i <= w:
                        near[w][frozenset((a, b))] += 1  # occurrence pairs: "king the king queen" counts 2
    return {"words": {w: words[w] for w in ROYALS},
            "together": {f"{a}-{b}": {f"within {w}": near[w][frozenset((a, b))] for w in windows}
                         for a, b in combinations(ROYALS, 2)}}


def counts_line(c: dict) -> str:
    """royal_counts as one line to print."""
    words = ", ".join(f"{w} {n:,}" for w, n in c["words"].items())
    pairs = ", ".join(f"{p} {' / '.join(str(n) for n in d.values())}" for p, d in c["together"].items())
    within = " / ".join(k.split()[-1] for k in next(iter(c["together"].values())))
    return f"the royals in this text: {words}; pairs within {within} words of each other: {pairs}"
