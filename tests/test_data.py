import numpy as np
import pytest
import torch

from wordmore import batch as B, corpus as K, source as S
from wordmore.errors import WordmoreError
from wordmore.vocab import TokenizerConfig

W = TokenizerConfig("word")
C = TokenizerConfig("char")


def test_char_corpus_splits_80_10_10_and_streams_start_at_boundary(names_file):
    corpus = K.prepare(S.DataConfig(dataset=str(names_file)), C, log=lambda *a: None)
    n_units = len(names_file.read_text().split())
    assert corpus.meta["units"] == n_units
    b = corpus.vocab.boundary_id
    units = {s: int((corpus.splits[s] == b).sum()) - 1 for s in K.SPLITS}  # minus the leading boundary
    assert sum(units.values()) == n_units
    assert units["val"] == round(n_units * 0.1) and units["test"] == round(n_units * 0.1)
    for s in K.SPLITS:
        assert corpus.splits[s][0] == b and corpus.splits[s][-1] == b
    # decoding the three streams gives back exactly the names
    names = []
    for s in K.SPLITS:
        names += "".join(corpus.vocab.decode(corpus.splits[s].tolist())).split(".")
    assert sorted(x for x in names if x) == sorted(names_file.read_text().split())


def test_encoding_is_cached_and_rebuilt_when_settings_change(names_file):
    msgs = []
    K.prepare(S.DataConfig(dataset=str(names_file)), C, log=msgs.append)
    K.prepare(S.DataConfig(dataset=str(names_file)), C, log=msgs.append)
    assert "reusing" in msgs[-1]
    K.prepare(S.DataConfig(dataset=str(names_file), split_seed=7), C, log=msgs.append)
    assert "encoded" in msgs[-1]
    names_file.write_text(names_file.read_text() + "zzzz\n")
    K.prepare(S.DataConfig(dataset=str(names_file)), C, log=msgs.append)
    assert "encoded" in msgs[-1]


def test_word_corpus_folder_and_glob(words_file, tmp_path):
    (tmp_path / "more.txt").write_text("the king laughed\n\nthe queen wept\n")
    a = K.prepare(S.DataConfig(dataset=str(tmp_path)), W, log=lambda *a: None)
    b = K.prepare(S.DataConfig(dataset=str(tmp_path / "*.txt")), W, log=lambda *a: None)
    assert a.meta["units"] == b.meta["units"] == 302
    assert a.vocab.itos[:2] == ["<s>", "<unk>"] and "king" in a.vocab


def test_an_encoded_folder_moved_elsewhere_is_used_as_it_is(words_file, tmp_path, monkeypatch):
    import shutil
    a = K.prepare(S.DataConfig(dataset=str(words_file)), W, log=lambda *a: None)
    moved = tmp_path / "shipped"
    shutil.copytree(a.folder, moved)
    monkeypatch.setattr("wordmore.source.load_texts", lambda *a, **k: pytest.fail("must not read text again"))
    msgs = []
    b = K.prepare(S.DataConfig(dataset=str(moved), min_count=99), W, log=msgs.append)
    assert "using encoded corpus" in msgs[-1] and b.vocab.itos == a.vocab.itos
    assert np.array_equal(np.asarray(b.splits["train"]), np.asarray(a.splits["train"]))
    with pytest.raises(WordmoreError, match="char"):
        K.prepare(S.DataConfig(dataset=str(moved)), C, log=lambda *a: None)
    (moved / "val.bin").write_bytes(b"\0")
    with pytest.raises(WordmoreError, match="val.bin"):
        K.prepare(S.DataConfig(dataset=str(moved)), W, log=lambda *a: None)


def test_streaming_gives_the_same_encoding(words_file):
    a = K.prepare(S.DataConfig(dataset=str(words_file)), W, log=lambda *a: None)
    b = K.prepare(S.DataConfig(dataset=str(words_file), streaming=True, cache_dir=str(words_file.parent / "c2")),
                  W, log=lambda *a: None)
    assert a.vocab.itos == b.vocab.itos
    for s in K.SPLITS:
        assert np.array_equal(np.asarray(a.splits[s]), np.asarray(b.splits[s]))


def test_invalid_utf8_is_replaced_and_reported(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"the king \xff\xfe sat\n\nthe queen stood\n\na man ran\n")
    msgs = []
    corpus = K.prepare(S.DataConfig(dataset=str(p)), W, log=msgs.append)
    assert corpus.meta["replaced_chars"] >= 1
    assert any("invalid UTF-8" in m for m in msgs)


@pytest.mark.parametrize("content,flags,err", [
    ("", {}, "empty"), ("!!! ??? ...\n\n,,,\n\n;;\n", {}, "empty"),
    ("one paragraph only", {}, "at least 3: try --sample-by line"),
    ("one line\nand another", {"sample_by": "line"}, "at least 3: give more text"),  # the hint is not what was given
    ("a b\n\nc d\n\ne f\n\ng h\n", {"max_tokens": 3}, r"sample_by=paragraph, --max-tokens 3\); .*: give a larger "
                                                          r"--max-tokens")])
def test_bad_corpora_are_clear_errors(tmp_path, content, flags, err):
    p = tmp_path / "c.txt"
    p.write_text(content)
    with pytest.raises(WordmoreError, match=err):
        K.prepare(S.DataConfig(dataset=str(p), **flags), W, log=lambda *a: None)


def test_min_count_that_empties_the_vocabulary(words_file):
    with pytest.raises(WordmoreError, match="vocabulary is empty"):
        K.prepare(S.DataConfig(dataset=str(words_file), min_count=10 ** 9), W, log=lambda *a: None)


def test_missing_file_and_unknown_names():
    with pytest.raises(WordmoreError, match="no such file"):
        S.resolve("./nope.txt", S.DataConfig())
    with pytest.raises(WordmoreError, match="no such file, folder or catalog"):
        S.resolve("notacorpus", S.DataConfig())


def test_catalog_without_local_copy_or_network_says_what_was_tried(monkeypatch, tmp_path):
    monkeypatch.delenv("WORDMORE_DATA", raising=False)
    def refuse(*a, **k):
        raise OSError("network is unreachable")
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(WordmoreError, match="is not available") as e:
        S.resolve("fairy", S.DataConfig(cache_dir=str(tmp_path)))
    msg = str(e.value)
    assert "WORDMORE_DATA" in msg and "downloading 67 file(s)" in msg and "--dataset PATH" in msg


def test_catalog_uses_wordmore_data(monkeypatch, tmp_path, names_file):
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / "names.txt").write_text(names_file.read_text())
    monkeypatch.setenv("WORDMORE_DATA", str(tmp_path))
    src = S.resolve("names", S.DataConfig())
    assert src.kind == "files" and src.files == [str(tmp_path / "names" / "names.txt")]


def test_catalog_download_strips_gutenberg_header(monkeypatch, tmp_path):
    monkeypatch.delenv("WORDMORE_DATA", raising=False)
    body = b"header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nOnce upon a time\n*** END OF THE PROJECT\nlicence"
    class R:
        def __init__(self, *a, **k): pass
        def read(self): return body
        def __enter__(self): return self
        def __exit__(self, *a): return False
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", R)
    src = S.resolve("fairy", S.DataConfig(cache_dir=str(tmp_path)))
    assert len(src.files) == 67
    assert open(src.files[0]).read().strip() == "Once upon a time"


def test_hub_id_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = S.resolve("nobody/no-such-dataset-xyz:cfg", S.DataConfig())
    assert src.kind == "hub" and src.hub_id == "nobody/no-such-dataset-xyz" and src.hub_config == "cfg"
    with pytest.raises(WordmoreError, match="could not load dataset"):
        S.load_texts(src, S.DataConfig(), "line")


def test_windows_never_cross_unit_boundaries():
    # stream: . a b . c d e .
    stream = np.array([0, 1, 2, 0, 3, 4, 5, 0], dtype=np.uint16)
    bl = B.Batcher(stream, 0, 3, "left")
    x, y = bl.gather(torch.tensor([4, 5, 1]))
    assert x.tolist() == [[0, 0, 0], [0, 0, 3], [0, 0, 0]] and y.tolist() == [3, 4, 1]
    bb = B.Batcher(stream, 0, 2, "both")
    x, y = bb.gather(torch.tensor([5, 2]))
    assert x.tolist() == [[0, 3, 5, 0], [0, 1, 0, 0]] and y.tolist() == [4, 2]


def test_subsampling_keeps_rare_targets_and_drops_frequent_ones():
    keep = B.subsample_keep([1000, 10, 1], 1e-3)
    assert keep[2] == 1.0 and keep[0] < keep[1] <= 1.0
    stream = np.array([0] * 900 + [1] * 100, dtype=np.uint16)
    b = B.Batcher(stream, 0, 1, "left", keep_prob=np.array([0.01, 1.0], dtype=np.float32))
    x, y = b.sample(2000, torch.Generator().manual_seed(0))
    assert (y == 1).float().mean() > 0.5  # 10% of the stream, most of the kept targets


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
@pytest.mark.parametrize("chunk", [1 << 22, 3])
def test_windows_read_the_thinned_text_and_thinning_repeats_with_its_seed(device, chunk, monkeypatch):
    monkeypatch.setattr(B.Batcher, "thin_chunk", chunk)
    # stream: . a the b . the c d the .   (the = 2, dropped always; the boundary asks to be dropped too)
    stream = np.array([0, 1, 2, 3, 0, 2, 4, 5, 2, 0], dtype=np.uint16)
    b = B.Batcher(stream, 0, 2, "both", device=device)
    x, y = b.gather(torch.tensor([6, 2], device=device))
    assert x.tolist() == [[0, 2, 5, 2], [0, 1, 3, 0]] and y.tolist() == [4, 2]
    m = b.thin(np.array([0.0, 1.0, 0.0, 1.0, 1.0, 1.0], dtype=np.float32), seed=3)
    assert m == 7 and torch.as_tensor(b.thinned).long().tolist() == [0, 1, 3, 0, 4, 5, 0, 0, 0, 0]
    before = torch.as_tensor(b.after).long() - torch.as_tensor(b.kept).long()  # kept tokens strictly before each
    assert before.tolist() == [0, 1, 2, 2, 3, 4, 4, 5, 6, 6]
    x, y = b.gather(torch.tensor([6, 2, 5], device=device))  # targets still from the whole text
    assert x.tolist() == [[0, 0, 5, 0], [0, 1, 3, 0], [0, 0, 4, 5]] and y.tolist() == [4, 2, 2]
    big = np.random.default_rng(0).integers(1, 50, 5000).astype(np.uint16)
    c = B.Batcher(big, 0, 2, "both", device=device)
    half = np.full(50, 0.5, dtype=np.float32)
    runs = []
    for seed in (1, 1, 2):
        n = c.thin(half, seed)
        runs.append(torch.as_tensor(c.thinned)[:n].long().cpu().numpy().copy())
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    assert 2200 < len(runs[2]) < 2800
    it = iter(big.tolist())  # the kept words, in order: a subsequence of the text
    assert all(any(w == v for v in it) for w in runs[2].tolist())
