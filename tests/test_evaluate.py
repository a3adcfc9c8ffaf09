import json
import math

import numpy as np
import pytest

from wordmore.embeddings import Embeddings
from wordmore.errors import WordmoreError
from wordmore.evaluate import (
    analogy_json,
    analogy_table,
    eval_files,
    evaluate_analogies,
    evaluate_pairs,
    read_pairs,
)

WORDS = ["king", "queen", "man", "woman", "prince", "princess", "boy", "girl", "paris", "france", "rome", "italy"]
V = np.array([[1, 1, 1, 0], [-1, 1, 1, 0], [1, 0, 1, 0], [-1, 0, 1, 0], [1, 1, -1, 0], [-1, 1, -1, 0],
              [1, 0, -1, 0], [-1, 0, -1, 0], [0, 0, 0, 1], [0, 2, 0, 1], [0.1, 0, 0, 1], [0.1, 2, 0, 1]],
             dtype=np.float32)
QUESTIONS = """: family
man woman king queen
boy girl prince princess
man woman boy girl
man woman dog cat
: capital-common-countries
paris france rome italy
: gram1-adjective-to-adverb
king queen man nothere
"""


@pytest.fixture
def files(tmp_path):
    q = tmp_path / "q.txt"
    q.write_text(QUESTIONS)
    s = tmp_path / "s.tsv"
    s.write_text("# header\nking\tqueen\t8.5\nman\twoman\t8.3\nking\tparis\t1.0\nboy\tgirl\t7.0\nking\tcabbage\t0.5\n")
    return q, s


def test_analogies_known_by_construction(files):
    emb = Embeddings(WORDS, V)
    r = evaluate_analogies(emb, files[0])
    fam = r["sections"][0]
    assert (fam.correct, fam.seen, fam.skipped) == (3, 3, 1)
    assert r["sections"][1].seen == 1 and r["sections"][2].skipped == 1
    assert r["total"].seen == 4 and r["total"].skipped == 2 and r["coverage"] == pytest.approx(4 / 6)
    assert r["semantic"].seen == 4 and r["syntactic"].seen == 0
    assert "coverage: 4/6" in analogy_table(r)


def test_restrict_vocab_skips_rare_words(files):
    r = evaluate_analogies(Embeddings(WORDS, V), files[0], restrict_vocab=4)
    assert r["total"].seen == 1 and r["total"].skipped == 5  # only man woman king queen


def test_malformed_analogy_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text(": s\na b c d\na b c\n")
    with pytest.raises(WordmoreError, match=r"bad.txt:3: expected 4 words"):
        evaluate_analogies(Embeddings(WORDS, V), p)


def test_pairs_spearman_pearson_and_coverage(files):
    r = evaluate_pairs(Embeddings(WORDS, V), files[1])
    assert r["pairs"] == 5 and r["seen"] == 4 and r["oov"] == 1
    assert -1 <= r["spearman"] <= 1 and r["coverage"] == pytest.approx(0.8)


def test_pairs_too_few_covered_give_no_correlation(files, tmp_path):
    two = tmp_path / "two.tsv"  # two covered pairs always correlate at +-1: no score, not a perfect one
    two.write_text("king\tqueen\t8.5\nman\twoman\t1.0\nking\tcabbage\t0.5\n")
    r = evaluate_pairs(Embeddings(WORDS, V), two)
    assert r["seen"] == 2 and r["spearman"] is None and r["pearson"] is None
    assert r["note"] == "no correlation on 2 covered pairs: it needs 3"
    three = tmp_path / "three.tsv"
    three.write_text(two.read_text() + "boy\tgirl\t7.0\n")
    r = evaluate_pairs(Embeddings(WORDS, V), three)
    assert math.isfinite(r["spearman"]) and math.isfinite(r["pearson"]) and r["note"] is None
    flat = tmp_path / "flat.tsv"  # three pairs, every human score the same: scipy's NaN becomes None
    flat.write_text("king\tqueen\t5\nman\twoman\t5\nboy\tgirl\t5\n")
    r = evaluate_pairs(Embeddings(WORDS, V), flat)
    assert r["spearman"] is None and r["pearson"] is None and "scores or the cosines are all equal" in r["note"]


def test_agrees_with_gensim_on_random_vectors(tmp_path):
    KeyedVectors = pytest.importorskip("gensim.models").KeyedVectors
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    vecs = rng.normal(size=(300, 8)).astype(np.float32)
    vecs[1] = vecs[0] - vecs[2] + vecs[3] + 0.01  # some questions are answerable
    q = tmp_path / "q.txt"
    lines = [": family"] + [" ".join(rng.choice(words, 4, replace=False)) for _ in range(150)] + \
            [": gram2-opposite", "w2 w3 w0 w1", "w0 w2 w3 w999"] + [" ".join(rng.choice(words, 4)) for _ in range(50)]
    q.write_text("\n".join(lines) + "\n")
    s = tmp_path / "s.tsv"
    s.write_text("\n".join(f"{a}\t{b}\t{rng.uniform(0, 10):.2f}" for a, b in
                           (rng.choice(words + ["oov"], 2) for _ in range(80))) + "\n")
    p = tmp_path / "v.vec"
    emb = Embeddings(words, vecs)
    emb.save_word2vec(p)
    kv = KeyedVectors.load_word2vec_format(str(p))
    for restrict in (300000, 200):
        ours = evaluate_analogies(Embeddings.load(p), q, restrict_vocab=restrict)
        score, sections = kv.evaluate_word_analogies(str(q), restrict_vocab=restrict)
        theirs = sections[-1]
        assert abs(ours["total"].correct - len(theirs["correct"])) <= 1
        assert ours["total"].seen == len(theirs["correct"]) + len(theirs["incorrect"])
        mine = evaluate_pairs(Embeddings.load(p), s, restrict_vocab=restrict)
        pear, spear, oov = kv.evaluate_word_pairs(str(s), restrict_vocab=restrict)
        assert abs(mine["spearman"] - spear.statistic) < 1e-3 and abs(mine["pearson"] - pear.statistic) < 1e-3
        assert abs(100 * mine["oov"] / mine["pairs"] - oov) < 1e-6


def _old_correct(emb, quads, method):
    """The pre-unification evaluate loop (dot product to b - a + c; 3CosMul sb*sc/(sa+1e-6)), as reference."""
    U = emb.unit
    q = np.asarray(quads)
    if method == "add":
        scores = (U[q[:, 1]] - U[q[:, 0]] + U[q[:, 2]]) @ U.T
    else:
        sa, sb, sc = ((U[q[:, j]] @ U.T + 1) / 2 for j in (0, 1, 2))
        scores = sb * sc / (sa + 1e-6)
    for j in (0, 1, 2):
        scores[np.arange(len(q)), q[:, j]] = -np.inf
    return int((scores.argmax(1) == q[:, 3]).sum())


@pytest.mark.parametrize("method", ["add", "mul"])
def test_same_correct_counts_as_the_old_code(tmp_path, method):
    rng = np.random.default_rng(5)
    n = 400
    words = [f"w{i}" for i in range(n)]
    vecs = rng.normal(size=(n, 10)).astype(np.float32)
    quads = [list(rng.choice(n, 4, replace=False)) for _ in range(600)]
    for a, b, c, d in quads[:200]:  # a third answerable, so 'correct' is not just zero
        vecs[d] = vecs[b] - vecs[a] + vecs[c] + rng.normal(size=10) * 0.3
    q = tmp_path / "q.txt"
    q.write_text(": family\n" + "".join(" ".join(words[i] for i in x) + "\n" for x in quads))
    emb = Embeddings(words, vecs)
    r = evaluate_analogies(emb, q, restrict_vocab=None, method=method)
    assert r["total"].seen == 600 and r["total"].correct == _old_correct(emb, quads, method) > 30


def test_eval_files_are_checked_before_any_work(tmp_path, monkeypatch, files):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WordmoreError, match="no such word-pair file: /nope.tsv$"):
        eval_files(str(files[0]), "/nope.tsv")
    with pytest.raises(WordmoreError, match=r"no such analogy file: q2.txt \(looked in the current folder"):
        eval_files("q2.txt", None)


def test_a_malformed_pair_file_is_refused_before_the_analogies_run(tmp_path, files):
    bad = tmp_path / "bad.tsv"
    bad.write_text("king\tqueen\t8.5\nman\twoman\tnan\n")
    with pytest.raises(WordmoreError, match=r"bad.tsv:2: score 'nan' is not a finite number"):
        eval_files(str(files[0]), str(bad))
    bad.write_text(": capital\nathens greece baghdad iraq\n")  # an analogy file given as pairs
    with pytest.raises(WordmoreError, match=r"bad.tsv:1: expected 'word1"):
        eval_files(str(files[0]), str(bad))
    bad.write_text("# nothing\n")
    with pytest.raises(WordmoreError, match="no word pairs in it"):
        eval_files(None, str(bad))


def test_a_header_line_is_skipped_as_gensim_skips_it(tmp_path, files):
    plain = evaluate_pairs(Embeddings(WORDS, V), files[1])
    headed = tmp_path / "headed.tsv"
    headed.write_text("Word 1\tWord 2\tHuman (mean)\n" + files[1].read_text())
    assert read_pairs(headed) == read_pairs(files[1])
    assert {**evaluate_pairs(Embeddings(WORDS, V), headed), "file": ""} == {**plain, "file": ""}
    (tmp_path / "late.tsv").write_text(files[1].read_text() + "a\tb\tmean\n")  # only the first line may be a header
    with pytest.raises(WordmoreError, match="late.tsv:7: score 'mean' is not a number"):
        read_pairs(tmp_path / "late.tsv")


def test_bare_eval_name_found_beside_the_data(tmp_path, monkeypatch):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "questions-words.txt").write_text(QUESTIONS)
    (tmp_path / "corpora").mkdir()
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("WORDMORE_DATA", str(tmp_path / "corpora"))
    assert eval_files("questions-words.txt", None)[0] == tmp_path / "eval" / "questions-words.txt"


def test_default_restrict_is_30000_and_json_form(files):
    import inspect
    assert inspect.signature(evaluate_analogies).parameters["restrict_vocab"].default == 30000
    d = analogy_json(evaluate_analogies(Embeddings(WORDS, V), files[0]))
    assert d["total"] == {"correct": 4, "seen": 4, "skipped": 2, "accuracy": 1.0}
    assert d["sections"]["family"]["correct"] == 3 and d["restrict_vocab"] == 30000
    json.dumps(d)
