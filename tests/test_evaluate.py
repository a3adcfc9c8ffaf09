import numpy as np
import pytest

from wordmore.embeddings import Embeddings
from wordmore.errors import WordmoreError
from wordmore.evaluate import analogy_table, evaluate_analogies, evaluate_pairs

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
