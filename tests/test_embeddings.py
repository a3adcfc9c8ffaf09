import json

import numpy as np
import pytest

from wordmore.embeddings import Embeddings
from wordmore.errors import WordmoreError

# gender along axis 0, royalty along axis 1, age along axis 2: analogies hold by construction
WORDS = ["<s>", "<unk>", "king", "queen", "man", "woman", "prince", "princess", "boy", "girl", "apple"]
VECS = np.array([
    [0, 0, 0, 0.1], [0, 0, 0, -0.1],
    [1, 1, 1, 0], [-1, 1, 1, 0], [1, 0, 1, 0], [-1, 0, 1, 0],
    [1, 1, -1, 0], [-1, 1, -1, 0], [1, 0, -1, 0], [-1, 0, -1, 0], [0, 0, 0, 3]], dtype=np.float32)


@pytest.fixture
def emb():
    return Embeddings(WORDS, VECS, lowercase=True)


def test_analogy_fasttext_order_and_query_words_excluded(emb):
    assert emb.analogy("king", "man", "woman", 1)[0][0] == "queen"
    assert emb.analogy("prince", "boy", "girl", 1)[0][0] == "princess"
    assert all(w not in ("king", "man", "woman") for w, _ in emb.analogy("king", "man", "woman", 5))


def test_hand_computed_neighbours_and_similarity(emb):
    nb = emb.neighbors("king", 3)
    assert nb[0][0] == "man" and nb[0][1] == pytest.approx(2 / np.sqrt(6))  # cos([1,1,1],[1,0,1])
    assert {w for w, _ in nb[1:]} == {"queen", "prince"} and nb[1][1] == pytest.approx(1 / 3)
    assert emb.similarity("king", "queen") == pytest.approx(1 / 3)
    assert emb.similarity("king", "man") == pytest.approx(2 / np.sqrt(6))
    assert "<s>" not in [w for w, _ in emb.neighbors("apple", 10)]


def test_odd_one_out(emb):
    assert emb.doesnt_match(["king", "queen", "man", "apple"])[0] == "apple"


def test_unknown_word_suggests_spellings(emb):
    with pytest.raises(WordmoreError, match="did you mean king"):
        emb.neighbors("kingg")
    assert emb.neighbors("KING", 1)  # case follows the model's lowercasing


def test_word2vec_text_exact_bytes(tmp_path):
    e = Embeddings(["a", "b"], np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32))
    e.save_word2vec(tmp_path / "v.vec")
    assert (tmp_path / "v.vec").read_bytes() == b"2 2\na 0.5 -1\nb 2 0.25\n"
    e.save_word2vec(tmp_path / "v.bin", binary=True)
    raw = (tmp_path / "v.bin").read_bytes()
    assert raw.startswith(b"2 2\na ") and len(raw) == len(b"2 2\n") + 2 * (2 + 8 + 1)


@pytest.mark.parametrize("binary", [False, True])
def test_our_writer_and_reader_roundtrip(emb, tmp_path, binary):
    p = tmp_path / ("v.bin" if binary else "v.vec")
    emb.save_word2vec(p, binary=binary)
    back = Embeddings.load(p)
    assert back.words == emb.words and np.array_equal(back.vectors, emb.vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_ours_and_we_read_gensims(emb, tmp_path, binary):
    KeyedVectors = pytest.importorskip("gensim.models").KeyedVectors
    p = tmp_path / ("ours.bin" if binary else "ours.vec")
    emb.save_word2vec(p, binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(p), binary=binary)
    assert list(kv.index_to_key) == emb.words and np.array_equal(kv.vectors, emb.vectors)
    q = tmp_path / ("theirs.bin" if binary else "theirs.vec")
    kv.save_word2vec_format(str(q), binary=binary)
    back = Embeddings.load(q)
    assert back.words == emb.words and np.allclose(back.vectors, emb.vectors)
    assert kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == \
        emb.analogy("king", "man", "woman", 1)[0][0]
    for a, b, c in [("king", "man", "woman"), ("girl", "queen", "man")]:
        theirs = [w for w, _ in kv.most_similar_cosmul(positive=[a, c], negative=[b], topn=2)]
        ours = [w for w, _ in emb.analogy(a, b, c, 2, method="mul", skip_specials=False)]
        assert ours == theirs


def test_projector_files_follow_the_header_rule(emb, tmp_path):
    v, m = emb.save_projector(tmp_path)
    rows = v.read_text().splitlines()
    meta = m.read_text().splitlines()
    assert len(rows) == len(meta) == len(WORDS)  # one column: no header row
    assert meta[2] == "king" and rows[2].split("\t") == ["1", "1", "1", "0"]


def test_glove_style_headerless_file(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("a 1 2\nb 3 4\n")
    e = Embeddings.load(p)
    assert e.words == ["a", "b"] and e.dim == 2


@pytest.mark.parametrize("content,msg", [
    ("x y\na 1 2\n", "bad header"), ("2 2\na 1 2\nb 1\n", ":3: 1 values, expected 2"),
    ("2 2\na 1 nan\nb 1 2\n", ":2: NaN"), ("2 2\na 1 2\na 3 4\n", "duplicate word 'a'"),
    ("3 2\na 1 2\nb 3 4\n", "header says 3 words"), ("2 2\na 1 z\nb 1 2\n", "not a number")])
def test_bad_vectors_files(tmp_path, content, msg):
    p = tmp_path / "v.vec"
    p.write_text(content)
    with pytest.raises(WordmoreError, match=msg):
        Embeddings.load(p)


def test_truncated_binary(emb, tmp_path):
    p = tmp_path / "v.bin"
    emb.save_word2vec(p, binary=True)
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(WordmoreError, match="truncated"):
        Embeddings.load(p)


def test_export_replaces_only_when_complete(tmp_path):
    p = tmp_path / "v.vec"
    p.write_text("old\n")
    from wordmore.atomic import atomic_path

    class Boom(Exception):
        pass
    with pytest.raises(Boom):
        with atomic_path(p, "wb") as f:
            f.write(b"partial")
            raise Boom
    assert p.read_text() == "old\n" and not list(tmp_path.glob(".v.vec.*"))


def test_run_directory_loading_uses_its_case_rule(emb, tmp_path):
    emb.save_word2vec(tmp_path / "embeddings.vec")
    (tmp_path / "vocab.json").write_text(json.dumps({"itos": WORDS, "counts": [1] * len(WORDS),
                                                     "tokenizer": {"level": "word", "lowercase": True}}))
    e = Embeddings.load(tmp_path)
    assert e.lowercase is True and e.counts == [1] * len(WORDS)
