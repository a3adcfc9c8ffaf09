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


def test_check_k_counts_the_words_besides_the_query_and_the_specials(emb):
    assert emb.check_k(8) == 8  # 11 rows: <s>, <unk> and the word asked about aside, 8 answers exist
    with pytest.raises(WordmoreError, match="-k 9 is larger than the vocabulary: the model has 8 words besides"):
        emb.check_k(9)
    assert len(emb.neighbors("king", 8)) == 8


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
    with pytest.raises(Boom, match="disk gone"):
        with atomic_path(p, "wb") as f:
            f.write(b"partial")
            raise Boom("disk gone")
    assert p.read_text() == "old\n" and not list(tmp_path.glob(".v.vec.*"))


def test_run_directory_loading_uses_its_case_rule(emb, tmp_path):
    emb.save_word2vec(tmp_path / "embeddings.vec")
    (tmp_path / "vocab.json").write_text(json.dumps({"itos": WORDS, "counts": [1] * len(WORDS),
                                                     "tokenizer": {"level": "word", "lowercase": True}}))
    e = Embeddings.load(tmp_path)
    assert e.lowercase is True and e.counts == [1] * len(WORDS)


# ---------------------------------------------------------------- gensim's numbers, one scoring function

@pytest.fixture
def rand_file(tmp_path):
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(200)]
    p = tmp_path / "r.vec"
    Embeddings(words, rng.normal(size=(200, 12)).astype(np.float32)).save_word2vec(p)
    return p


def _pairs(res):
    return [w for w, _ in res], np.array([s for _, s in res])


@pytest.mark.parametrize("pos,neg,restrict", [(["w1"], [], None), (["w1", "w7"], ["w3"], None),
                                              (["w5", "w9", "w11"], ["w2", "w4"], 120), ([], ["w8"], None)])
def test_scores_are_gensims(rand_file, pos, neg, restrict):
    kv = pytest.importorskip("gensim.models").KeyedVectors.load_word2vec_format(str(rand_file))
    emb = Embeddings.load(rand_file)
    for method, theirs in (("add", kv.most_similar), ("mul", kv.most_similar_cosmul)):
        if method == "mul" and not pos:
            continue
        t = theirs(positive=pos, negative=neg, topn=8, restrict_vocab=restrict)
        if method == "mul" and restrict:  # gensim's cosmul ignores restrict_vocab: keep its first `restrict`
            t = [(w, s) for w, s in theirs(positive=pos, negative=neg, topn=200) if kv.get_index(w) < restrict][:8]
        o = emb.most_similar(pos, neg, 8, restrict, method)
        assert _pairs(o)[0] == _pairs(t)[0]
        np.testing.assert_allclose(_pairs(o)[1], _pairs(t)[1], rtol=1e-5, atol=1e-6)
    assert emb.similarity("w1", "w2") == pytest.approx(float(kv.similarity("w1", "w2")), abs=1e-6)
    ws = ["w1", "w2", "w3", "w40"]
    assert emb.doesnt_match(ws)[0] == kv.doesnt_match(ws)
    v = np.linspace(-1, 1, 12)
    t = kv.similar_by_vector(v, topn=5)
    o = emb.by_vector(v, 5)
    assert _pairs(o)[0] == _pairs(t)[0] and np.allclose(_pairs(o)[1], _pairs(t)[1], atol=1e-6)


def test_analogy_ranking_is_todays_dot_product(rand_file):
    emb = Embeddings.load(rand_file)
    for a, b, c in [("w1", "w2", "w3"), ("w10", "w20", "w30"), ("w199", "w0", "w5")]:
        ia, ib, ic = emb.require(a, b, c)
        old = emb.unit @ (emb.unit[ia] - emb.unit[ib] + emb.unit[ic])  # the old 3CosAdd score
        old[[ia, ib, ic]] = -np.inf
        want = [emb.words[i] for i in np.argsort(-old)[:10]]
        assert [w for w, _ in emb.analogy(a, b, c, 10)] == want


def test_by_vector_checks_its_input(emb):
    with pytest.raises(WordmoreError, match="has 3 numbers, the model's vectors 4"):
        emb.by_vector([1, 2, 3])
    with pytest.raises(WordmoreError, match="not all zero"):
        emb.by_vector([0, 0, 0, 0])
    assert emb.by_vector([0, 0, 0, 1], 1)[0][0] == "apple"


# ---------------------------------------------------------------- whitespace tokens (char level)

def test_whitespace_tokens_round_trip(tmp_path):
    words = ["<s>", " ", "a", "\t", "b"]
    V = np.arange(10, dtype=np.float32).reshape(5, 2) + 1
    Embeddings(words, V).save_word2vec(tmp_path / "embeddings.vec")
    lines = (tmp_path / "embeddings.vec").read_text(encoding="utf-8").splitlines()
    assert lines[2].startswith("\u2423 ") and lines[4].startswith("\u2409 ") and len(lines[2].split(" ")) == 3
    bare = Embeddings.load(tmp_path / "embeddings.vec", limit=None)
    assert bare.words[1] == " " and bare.key("\u2423") == " "  # stand-ins map back; either spelling is found
    (tmp_path / "vocab.json").write_text(json.dumps({"itos": words, "counts": [5, 4, 3, 2, 1],
                                                     "tokenizer": {"level": "char", "lowercase": False}}))
    run = Embeddings.load(tmp_path)
    assert run.words == words and run.counts == [5, 4, 3, 2, 1] and np.array_equal(run.vectors, V)
    assert run.neighbors(" ", 1) and run.similarity(" ", "a") == pytest.approx(run.similarity("\u2423", "a"))
    b = tmp_path / "v.bin"
    run.save_word2vec(b, binary=True)
    assert Embeddings.load(b).words == words


def test_whitespace_and_its_stand_in_together_are_refused(tmp_path):
    with pytest.raises(WordmoreError, match="both a whitespace token and its stand-in"):
        Embeddings([" ", "\u2423"], np.ones((2, 2))).save_word2vec(tmp_path / "v.vec")
    assert not (tmp_path / "v.vec").exists()


# ---------------------------------------------------------------- fast load: the .npy sidecar, --limit

def test_sidecar_is_written_and_used(emb, tmp_path, monkeypatch):
    import wordmore.vecio as vecio
    p = tmp_path / "v.vec"
    emb.save_word2vec(p)
    assert (tmp_path / "v.vec.npy").exists() and (tmp_path / "v.vec.keys.json").exists()
    monkeypatch.setattr(vecio, "_read_text", lambda *a: pytest.fail("parsed the text despite the sidecar"))
    back = Embeddings.load(p)
    assert back.words == emb.words and np.array_equal(back.vectors, emb.vectors)
    assert isinstance(back.vectors, np.memmap) or isinstance(back.vectors.base, np.memmap)


def test_stale_or_broken_sidecar_falls_back_and_is_rewritten(emb, tmp_path):
    p = tmp_path / "v.vec"
    emb.save_word2vec(p)
    other = Embeddings(emb.words, emb.vectors * 2)
    other_text = tmp_path / "o.vec"
    other.save_word2vec(other_text, force=True)
    p.write_bytes(other_text.read_bytes())  # a .vec replaced by a tool that knows no sidecar
    assert np.array_equal(Embeddings.load(p).vectors, other.vectors)
    meta = json.loads((tmp_path / "v.vec.keys.json").read_text())
    assert meta["source"]["size"] == p.stat().st_size  # rewritten for the new file
    (tmp_path / "v.vec.npy").write_bytes(b"garbage")
    assert np.array_equal(Embeddings.load(p).vectors, other.vectors)


def test_same_size_rewrite_is_noticed_by_mtime(tmp_path):
    p = tmp_path / "v.vec"
    Embeddings(["a", "b"], np.array([[1, 2], [3, 4]], np.float32)).save_word2vec(p)
    import os
    st = p.stat()
    p.write_text("2 2\na 5 6\nb 7 8\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert p.stat().st_size == st.st_size and Embeddings.load(p).vectors[0, 0] == 5


@pytest.mark.parametrize("suffix", [".vec", ".bin"])
def test_limit_reads_only_the_first_rows(emb, tmp_path, suffix):
    p = tmp_path / f"v{suffix}"
    emb.save_word2vec(p, binary=suffix == ".bin")
    for q in (p.with_name(p.name + ".npy"), p.with_name(p.name + ".keys.json")):
        q.unlink(missing_ok=True)
    e = Embeddings.load(p, limit=4)
    assert e.words == WORDS[:4] and np.array_equal(e.vectors, VECS[:4])
    p.write_bytes(p.read_bytes()[:-30])  # damage past the limit goes unseen
    assert Embeddings.load(p, limit=3).words == WORDS[:3]
    with pytest.raises(WordmoreError, match="at least 1"):
        Embeddings.load(p, limit=0)


def test_limit_with_sidecar_and_run_directory(emb, tmp_path):
    emb.save_word2vec(tmp_path / "embeddings.vec")
    (tmp_path / "vocab.json").write_text(json.dumps({"itos": WORDS, "counts": list(range(11, 0, -1)),
                                                     "tokenizer": {"level": "word", "lowercase": True}}))
    e = Embeddings.load(tmp_path, limit=5)
    assert e.words == WORDS[:5] and e.counts == list(range(11, 6, -1)) and e.source == str(tmp_path)


def test_gensim_kv_files_through_gensim(emb, tmp_path):
    KeyedVectors = pytest.importorskip("gensim.models").KeyedVectors
    kv = KeyedVectors(4)
    kv.add_vectors(WORDS, VECS)
    kv.save(str(tmp_path / "m.kv"))
    e = Embeddings.load(tmp_path / "m.kv", limit=6)
    assert e.words == WORDS[:6] and np.array_equal(e.vectors, VECS[:6])


# ---------------------------------------------------------------- exports: no overwrite, 0644, OS errors

def test_exports_refuse_to_overwrite_without_force(emb, tmp_path):
    p = tmp_path / "v.vec"
    p.write_text("mine\n")
    with pytest.raises(WordmoreError, match="exists: pass --force"):
        emb.save_word2vec(p, force=False)
    assert p.read_text() == "mine\n"
    emb.save_word2vec(p, force=True)
    assert Embeddings.load(p).words == WORDS
    emb.save_projector(tmp_path / "proj", force=False)
    with pytest.raises(WordmoreError, match="vectors.tsv exists"):
        emb.save_projector(tmp_path / "proj", force=False)
    with pytest.raises(WordmoreError, match="it is a file"):
        emb.save_projector(p, force=True)
    with pytest.raises(WordmoreError, match="it is a folder"):
        emb.save_word2vec(tmp_path / "proj", force=True)


def test_a_link_or_pipe_is_never_replaced_by_a_written_file(emb, tmp_path):
    import os
    from wordmore.atomic import atomic_write_text
    fifo, link, target = tmp_path / "pipe", tmp_path / "link.vec", tmp_path / "real.vec"
    os.mkfifo(fifo)
    target.write_text("mine\n")
    link.symlink_to(target)
    for p in (fifo, link):  # as root, --force over /dev/null would have replaced the device with a file
        with pytest.raises(WordmoreError, match="it is a link, pipe or device"):
            emb.save_word2vec(p, force=True)
        with pytest.raises(WordmoreError, match="it is a link, pipe or device"):
            atomic_write_text(p, "x")  # every atomic write: the explorer page, the report
    assert fifo.is_fifo() and link.is_symlink() and target.read_text() == "mine\n"
    assert not [x for x in tmp_path.iterdir() if x.name.endswith(".tmp")]


def test_exports_are_readable_by_others(emb, tmp_path):
    import os
    old = os.umask(0o022)
    try:
        emb.save_word2vec(tmp_path / "v.vec", force=False)
        v, m = emb.save_projector(tmp_path / "p", force=False)
    finally:
        os.umask(old)
    for q in (tmp_path / "v.vec", tmp_path / "v.vec.npy", v, m):
        assert q.stat().st_mode & 0o777 == 0o644


def test_disk_full_is_one_line_and_keeps_the_old_file(emb, tmp_path, monkeypatch):
    import errno
    import os
    p = tmp_path / "v.vec"
    p.write_text("old\n")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(WordmoreError, match=r"cannot write .*v.vec: No space left on device"):
        emb.save_word2vec(p, force=True)
    assert p.read_text() == "old\n" and not list(tmp_path.glob(".v.vec.*"))


# ---------------------------------------------------------------- vocab.json beside embeddings.vec

@pytest.mark.parametrize("content,msg", [
    ("{not json", "unreadable vocab.json"), ("[1, 2]", "expected a JSON object"),
    ('{"itos": "abc"}', "'itos' must be a list of strings"), ('{"itos": ["a", 3]}', "'itos' must be a list"),
    ('{"itos": ["a"], "counts": [1, 2]}', "'counts' must be 1 non-negative"),
    ('{"itos": ["a"], "tokenizer": []}', "'tokenizer' must be an object"),
    ('{"itos": ["a"], "tokenizer": {"lowercase": "yes"}}', "'tokenizer.lowercase' must be"),
    ('{"itos": ["a"], "tokenizer": {"level": 3}}', "'tokenizer.level' must be")])
def test_malformed_vocab_json_is_one_clear_line(emb, tmp_path, content, msg):
    emb.save_word2vec(tmp_path / "embeddings.vec")
    (tmp_path / "vocab.json").write_text(content)
    with pytest.raises(WordmoreError, match=msg) as e:
        Embeddings.load(tmp_path)
    assert "\n" not in str(e.value) and "vocab.json" in str(e.value)


def test_all_but_the_top_removes_the_mean_and_the_top_direction():
    from wordmore.embeddings import all_but_the_top
    rng = np.random.default_rng(0)
    common = rng.normal(size=8)
    V = rng.normal(size=(200, 8)) * 0.1 + 3.0 + rng.normal(size=(200, 1)) * common  # (200, 8)
    X = all_but_the_top(V, 1)
    assert abs(X.mean(0)).max() < 1e-5
    u = common / np.linalg.norm(common)
    assert abs(X @ u).max() < 0.1 * abs((V - V.mean(0)) @ u).max()  # the shared direction is gone
    assert np.allclose(all_but_the_top(V, 0), V - V.mean(0), atol=1e-5)


def test_joined_tables_give_the_mean_of_their_cosines():
    from wordmore.embeddings import all_but_the_top, join_tables
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(50, 100)), rng.normal(size=(50, 100))  # (50, 100)
    J = join_tables([A, B])  # (50, 200)
    assert J.shape == (50, 200) and np.allclose(np.linalg.norm(J, axis=1), 1, atol=1e-5)

    def cos(X, i, j):
        return X[i] @ X[j] / np.linalg.norm(X[i]) / np.linalg.norm(X[j])
    a, b = all_but_the_top(A, 1), all_but_the_top(B, 1)
    assert abs(cos(J, 3, 7) - (cos(a, 3, 7) + cos(b, 3, 7)) / 2) < 1e-5


def test_cross_joined_tables_are_the_cosines_of_their_kernel():
    from wordmore.embeddings import all_but_the_top, join_tables
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(40, 30)), rng.normal(size=(40, 30))  # (40, 30)
    a, b = (X / np.linalg.norm(X, axis=1, keepdims=True) for X in (all_but_the_top(A, 1), all_but_the_top(B, 1)))
    for mu in (0.2, 0.7):
        J = join_tables([A, B], cross=mu)  # (40, 60): the same width as without cross
        R = a @ a.T + b @ b.T + mu * (a @ b.T + b @ a.T)  # (40, 40) the kernel, computed directly
        d = np.sqrt(np.diag(R))
        assert J.shape == (40, 60) and np.allclose(J @ J.T, R / d[:, None] / d[None, :], atol=1e-5)
    s = a + b  # cross 1: Levy et al.'s w + c, the cosine of the sums
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    J = join_tables([A, B], cross=1.0)
    assert np.allclose(J @ J.T, s @ s.T, atol=1e-5)
    assert not np.allclose(join_tables([A, B], cross=0.2) @ join_tables([A, B], cross=0.2).T,
                           join_tables([A, B]) @ join_tables([A, B]).T, atol=1e-3)
    with pytest.raises(WordmoreError):
        join_tables([A, B[:, :20]], cross=0.2)
    assert np.allclose(join_tables([A], cross=0.2), join_tables([A]))  # one (tied) table: nothing to cross


def test_cancelling_query_is_refused_and_analogy_unchanged(emb):
    for method in ("add", "mul"):
        with pytest.raises(WordmoreError, match=r"the query vector is zero \(king - king\)"):
            emb.most_similar(["king"], ["king"], method=method)
    with pytest.raises(WordmoreError, match=r"zero \(king \+ man - man - king\)"):
        emb.most_similar(["king", "man"], ["man", "king"])
    got = emb.analogy("king", "king", "queen", 3)  # a - b + c with a == b: the neighbours of c, a and c excluded
    want = [x for x in emb.neighbors("queen", 4) if x[0] != "king"][:3]
    assert [w for w, _ in got] == [w for w, _ in want] and np.allclose([s for _, s in got], [s for _, s in want])
