import numpy as np

from wordmore.embeddings import Embeddings
from wordmore.royal import DEFAULT_WORDS, GENDER_PAIRS, ROYALS, royal_check, royal_report

WORDS = ["<s>", "<unk>", "king", "queen", "prince", "princess", "man", "woman", "boy", "girl", "bread", "milk"]


def _emb(royal_together: bool) -> Embeddings:
    """Axes: 0 gender, 1 royalty, 2 youth, 3 food, 5 people; the royals share axis 1 only when royal_together."""
    e = np.eye(6)
    vec = {"king": 0.5 * e[0] + 2 * e[1], "queen": -0.5 * e[0] + 2 * e[1], "prince": 0.5 * e[0] + 2 * e[1] + 0.5 * e[2],
           "princess": -0.5 * e[0] + 2 * e[1] + 0.5 * e[2], "man": e[0] + e[5], "woman": -e[0] + e[5],
           "boy": e[0] + e[5] + 0.5 * e[2], "girl": -e[0] + e[5] + 0.5 * e[2], "bread": e[3], "milk": e[3] + 0.1 * e[4], "<s>": e[4], "<unk>": -e[4]}
    if not royal_together:
        vec["princess"] = e[3] + e[4]  # far from the other royals
    return Embeddings(WORDS, np.stack([vec[w] for w in WORDS]).astype(np.float32))


def test_royal_check_passes_when_the_royals_are_together_and_the_analogy_holds():
    r = royal_check(_emb(True), k=3)
    assert r["pass"] and r["queen_first"] and r["all_in_top"]
    assert r["analogy"][0][0] == "queen"
    assert {row["word"] for row in r["rows"]} == set(ROYALS)


def test_royal_check_fails_and_names_the_missing_royal():
    r = royal_check(_emb(False), k=3)
    assert not r["pass"] and not r["all_in_top"]
    king = next(row for row in r["rows"] if row["word"] == "king")
    assert "princess" in king["missing_royals"] and king["ranks"]["princess"] is None


def test_royal_report_lists_each_royal_and_the_analogy():
    text = royal_report(_emb(True), k=3)
    assert "king: prince" in text  # its nearest, with its cosine after it
    assert "king - man + woman = queen" in text
    assert all(f"{w:>9}:" in text for w in ROYALS)


def test_word_lists_hold_the_royals_and_gender_pairs():
    assert set(ROYALS) <= set(DEFAULT_WORDS)
    assert all(a in DEFAULT_WORDS and b in DEFAULT_WORDS for a, b in GENDER_PAIRS)


def test_royal_geometry_by_hand():
    from wordmore.royal import royal_geometry
    g = royal_geometry(_emb(True))
    # by construction every gender offset is -2 * unit-ish gender axis: parallel offsets, cosine near 1
    assert g["offset_cosine"] > 0.95
    U = _emb(True).unit
    idx = [WORDS.index(w) for w in ROYALS]
    S = U[idx] @ U[idx].T
    assert abs(g["royal_cosine"] - S[np.triu_indices(4, 1)].mean()) < 1e-6
    missing = Embeddings([w for w in WORDS if w != "girl"], np.eye(len(WORDS) - 1, dtype=np.float32))
    assert royal_geometry(missing) == {"royal_cosine": None, "offset_cosine": None}


def test_royal_counts_by_hand():
    from wordmore.royal import counts_line, royal_counts
    units = [["the", "king", "and", "the", "queen", "and", "a", "b", "c", "d", "e", "princess"],  # king-queen 3 apart
             ["prince", "prince", "princess"], ["queen"], ["king"] + ["x"] * 10 + ["queen"]]  # 11 apart: not near
    c = royal_counts(units, windows=(2, 10))
    assert c["words"] == {"king": 2, "queen": 3, "prince": 2, "princess": 2}
    t = c["together"]
    assert t["king-queen"] == {"within 2": 0, "within 10": 1}  # 3 apart
    assert t["king-princess"] == {"within 2": 0, "within 10": 1}  # 10 apart: within 10 counts 10 itself
    assert t["queen-princess"] == {"within 2": 0, "within 10": 1}  # 7 apart
    assert t["prince-princess"] == {"within 2": 2, "within 10": 2}  # each prince with the princess; prince-prince not
    assert t["queen-prince"] == {"within 2": 0, "within 10": 0}  # never in one unit
    line = counts_line(c)
    assert line.startswith("the royals in this text: king 2, queen 3, prince 2, princess 2; pairs within 2 / 10 words")
    assert "king-queen 0 / 1" in line
