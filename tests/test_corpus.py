"""Encoded corpora: parallel encoding, the race-free cache, killed runs, damaged folders, long streams."""
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wordmore import cache, corpus as K, encode as E
from wordmore.batch import Batcher
from wordmore.corpus import prepare
from wordmore.source import DataConfig
from wordmore.errors import WordmoreError
from wordmore.vocab import TokenizerConfig

W, C = TokenizerConfig("word"), TokenizerConfig("char")
ROOT = Path(__file__).resolve().parent.parent
QUIET = dict(log=lambda *a: None)


def _files(folder):
    return {f: (folder / f).read_bytes() for f in ("train.bin", "val.bin", "test.bin", "vocab.json")}


LEFT = ["meta.json", "test.bin", "train.bin", "val.bin", "vocab.json"]  # the workers' parts are gone


@pytest.mark.parametrize("tok", [W, C, TokenizerConfig("word", punct=True)], ids=["word", "char", "punct"])
def test_every_worker_count_gives_the_same_bytes(words_file, tmp_path, monkeypatch, tok):
    one = prepare(DataConfig(dataset=str(words_file), cache_dir=str(tmp_path / "one")), tok, **QUIET)  # one task
    via = prepare(DataConfig(dataset=str(words_file), hf_split="train[:100%]", workers=2,  # read by `datasets`
                             cache_dir=str(tmp_path / "via")), tok, **QUIET)
    monkeypatch.setattr(E, "SHARD_BYTES", 3000)  # many tasks, cut inside the file: the workers share it
    monkeypatch.setattr(E, "CHUNK_CHARS", 3000)
    assert len(E.plan([str(words_file)], "paragraph")) > 10
    got = []
    for w in (1, 2, 3):
        c = prepare(DataConfig(dataset=str(words_file), workers=w, cache_dir=str(tmp_path / f"c{w}")), tok, **QUIET)
        got.append((_files(c.folder), c.meta["units"], c.meta["raw_tokens"]))
        assert sorted(p.name for p in c.folder.iterdir()) == LEFT
    assert got[0] == got[1] == got[2] == (_files(one.folder), 300, one.meta["raw_tokens"])
    assert _files(via.folder) == _files(one.folder)


# line ends of every kind (text mode reads \r\n and \r as \n), odd runs of them, a BOM, invalid and cut UTF-8
NASTY = (b"\xef\xbb\xbfa b\r\nc\rd\n\n\n\ne f\r\n\r\n \n\ng\xff h\xe2\x82\n\n\n" + b"x y\xc3\xa9 z\n" * 9
         + b"\r\r\rk\xe2\x80\x99s\n\n\r\n\n\nQ\r\n\r\r\n\nlast\n\r")


@pytest.mark.parametrize("sample_by", ["line", "paragraph", "document"])
def test_byte_ranges_cut_anywhere_give_the_units_of_the_whole_file(tmp_path, monkeypatch, sample_by):
    from wordmore.source import file_units
    from wordmore.vocab import tokenize
    p = tmp_path / "t.txt"
    p.write_bytes(NASTY)
    monkeypatch.setattr(E, "_SCAN", 2)  # runs of line ends straddle what is read at a time
    stats: dict = {}
    want = [u for b in file_units(str(p), sample_by, stats) for u in b]
    assert stats["replaced"] == 2 and len(want) > (2 if sample_by == "paragraph" else 10 * (sample_by == "line"))

    def tokens(units, tok):
        return [t for t in (tokenize(u, tok) for u in units) if t]
    for step in range(1, len(NASTY) + 1):
        units, bad = [], 0
        for kind, pieces, _ in E.plan([str(p)], sample_by, step):
            for piece in pieces:
                got, n = E.read_range(*piece, sample_by)
                units += got
                bad += n
        assert (tokens(units, W), tokens(units, C), bad) == (tokens(want, W), tokens(want, C), 2), step


def test_max_tokens_keeps_whole_units_up_to_the_cap(words_file, tmp_path, monkeypatch):
    full = prepare(DataConfig(dataset=str(words_file)), W, **QUIET)
    cut = prepare(DataConfig(dataset=str(words_file), max_tokens=1000), W, **QUIET)
    assert 900 < cut.meta["raw_tokens"] <= 1000 and cut.meta["units"] < full.meta["units"]
    assert cut.folder != full.folder
    monkeypatch.setattr(E, "SHARD_BYTES", 500)  # the cap falls inside a task, with later tasks in flight
    for w in (1, 3):
        again = prepare(DataConfig(dataset=str(words_file), max_tokens=1000, workers=w,
                                   cache_dir=str(tmp_path / f"c{w}")), W, **QUIET)
        assert _files(again.folder) == _files(cut.folder) and again.meta["units"] == cut.meta["units"]


def test_tokens_past_max_tokens_need_not_be_in_the_given_vocab(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("abc\ncab\nbca\n" * 20)
    b.write_text("abc\ncab\nbca\n" * 20 + "abz\n")
    v = prepare(DataConfig(dataset=str(a), sample_by="line"), C, **QUIET)
    assert v.vocab.unk_id is None
    c = prepare(DataConfig(dataset=str(b), sample_by="line", vocab=str(v.folder), max_tokens=180), C, **QUIET)
    assert c.meta["raw_tokens"] == 180 and c.vocab.itos == v.vocab.itos
    with pytest.raises(WordmoreError, match="misses 'z'"):
        prepare(DataConfig(dataset=str(b), sample_by="line", vocab=str(v.folder)), C, **QUIET)


def test_vocab_of_an_earlier_run_is_used_as_it_is(words_file, tmp_path):
    a = prepare(DataConfig(dataset=str(words_file), max_tokens=300), W, **QUIET)
    more = tmp_path / "more.txt"
    more.write_text(words_file.read_text() + "\n\nzebras graze quietly\n\nzebras graze\n")
    b = prepare(DataConfig(dataset=str(more), vocab=str(a.folder)), W, **QUIET)
    assert b.vocab.itos == a.vocab.itos and "zebras" not in b.vocab
    assert b.vocab.counts[b.vocab.unk_id] >= 5  # zebras graze quietly zebras graze, and words the cut missed
    with pytest.raises(WordmoreError, match="made with"):
        prepare(DataConfig(dataset=str(more), vocab=str(a.folder)), C, **QUIET)


_CHILD = """
import sys, time
from wordmore import encode as E
from wordmore.corpus import prepare
from wordmore.source import DataConfig
from wordmore.vocab import TokenizerConfig
if sys.argv[2] == "hang":  # stop for good inside the encoding, the temporary folder full
    def hang(*a, **k):
        print("encoding", flush=True)
        time.sleep(600)
    E.write_splits = hang
    import wordmore.corpus as K
    K.write_splits = hang
c = prepare(DataConfig(dataset=sys.argv[1], workers=1), TokenizerConfig("word"))
print("units", c.meta["units"], c.folder, flush=True)
"""


def _child(path, mode, cache_dir):
    env = dict(os.environ, PYTHONPATH=str(ROOT), WORDMORE_CACHE=str(cache_dir))
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(path), mode], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_concurrent_processes_end_with_one_complete_folder(words_file, tmp_path):
    procs = [_child(words_file, "run", tmp_path / "cache") for _ in range(4)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    folders = {line.split()[2] for o in outs for line in o.splitlines() if line.startswith("units")}
    assert len(folders) == 1
    assert sum("data: encoded" in o for o in outs) == 1 and sum("reusing" in o for o in outs) == 3
    enc = tmp_path / "cache" / "encoded"
    assert [p.name for p in enc.iterdir() if ".tmp" in p.name] == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_killed_encoding_leaves_nothing_once_the_next_run_starts(words_file, tmp_path, sig):
    p = _child(words_file, "hang", tmp_path / "cache")
    assert p.stdout.readline().strip() == "encoding"
    enc = tmp_path / "cache" / "encoded"
    assert [q for q in enc.iterdir() if ".tmp" in q.name]  # the full temporary folder, mid-encoding
    p.send_signal(sig)
    p.wait(timeout=60)
    left = [q for q in enc.iterdir() if ".tmp" in q.name]
    if sig != signal.SIGKILL:  # caught: cleaned on the way out
        assert left == []
    p2 = _child(words_file, "run", tmp_path / "cache")
    out = p2.communicate(timeout=120)[0]
    assert p2.returncode == 0 and "units 300" in out, out
    assert [q for q in enc.iterdir() if ".tmp" in q.name] == []
    clean = prepare(DataConfig(dataset=str(words_file), cache_dir=str(tmp_path / "clean")), W, **QUIET)
    again = K.Corpus(Path(out.split()[-1]))
    assert _files(again.folder) == _files(clean.folder)


def test_a_full_disk_is_one_line_and_leaves_nothing(words_file, tmp_path, monkeypatch):
    def full(pool, tally, table, labels, dtype, boundary, folder, names):
        with open(folder / "train.bin", "wb") as f:
            f.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(K, "write_splits", full)
    with pytest.raises(WordmoreError, match="disk is full"):
        prepare(DataConfig(dataset=str(words_file), cache_dir=str(tmp_path / "c")), W, **QUIET)
    assert list((tmp_path / "c" / "encoded").iterdir()) != [] and \
        [q for q in (tmp_path / "c" / "encoded").iterdir() if ".tmp" in q.name] == []


def test_a_truncated_cached_file_is_encoded_again(words_file):
    a = prepare(DataConfig(dataset=str(words_file)), W, **QUIET)
    want = _files(a.folder)
    with open(a.folder / "train.bin", "r+b") as f:
        f.truncate(10)
    msgs = []
    b = prepare(DataConfig(dataset=str(words_file)), W, log=msgs.append)
    assert any("re-encoding" in m for m in msgs) and _files(b.folder) == want


def test_an_edit_with_its_mtime_restored_is_seen(words_file):
    a = prepare(DataConfig(dataset=str(words_file)), W, **QUIET)
    st = os.stat(words_file)
    text = words_file.read_text()
    words_file.write_text(text.replace("king", "kong", 1))  # same size
    os.utime(words_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    b = prepare(DataConfig(dataset=str(words_file)), W, **QUIET)
    assert b.folder != a.folder and "kong" in b.vocab


def test_content_hash_of_a_large_file_sees_its_ends_and_middle(tmp_path):
    p = tmp_path / "big.bin"
    data = bytearray(5 << 20)
    p.write_bytes(bytes(data))
    h0 = cache.content_hash(str(p))
    for at in (0, len(data) - 1, 8 * (len(data) - cache.SAMPLE) // (cache.BLOCKS + 1) + 5):
        d = bytearray(data)
        d[at] = 1
        p.write_bytes(bytes(d))
        assert cache.content_hash(str(p)) != h0


def test_crafted_folders_are_refused_not_crashes(encoded_corpus):
    meta = json.loads((encoded_corpus / "meta.json").read_text())
    (encoded_corpus / "meta.json").write_text(json.dumps(dict(meta, dtype="O")))
    with pytest.raises(WordmoreError, match="dtype 'O' is not one of uint16, uint32"):
        prepare(DataConfig(dataset=str(encoded_corpus)), W, **QUIET)
    (encoded_corpus / "meta.json").write_text(json.dumps(meta))
    ids = np.fromfile(encoded_corpus / "val.bin", dtype=np.uint16)
    ids[3] = 60000
    ids.tofile(encoded_corpus / "val.bin")
    with pytest.raises(WordmoreError, match="val.bin holds id 60000"):
        prepare(DataConfig(dataset=str(encoded_corpus)), W, **QUIET)


def test_streams_longer_than_2_31_tokens(encoded_corpus, monkeypatch):
    n = (1 << 31) + 10  # a sparse file: 4 GiB of zeros that take no disk
    with open(encoded_corpus / "train.bin", "r+b") as f:
        f.truncate(n * 2)
        f.seek((n - 4) * 2)
        f.write(np.asarray([5, 7, 8, 9], dtype=np.uint16).tobytes())
    meta = json.loads((encoded_corpus / "meta.json").read_text())
    meta["tokens"]["train"] = n
    (encoded_corpus / "meta.json").write_text(json.dumps(meta))
    checked = []
    monkeypatch.setattr(K.Corpus, "_check_ids", lambda self, s: checked.append(s))  # 4 GiB of zeros: skip the read
    c = K.Corpus(encoded_corpus)
    assert len(c.splits["train"]) == n and checked == ["train", "val", "test"]
    import torch
    b = Batcher(c.splits["train"], c.vocab.boundary_id, 2, "both")
    x, y = b.gather(torch.tensor([n - 3, n - 1]))
    assert y.tolist() == [7, 9] and x[0].tolist() == [0, 5, 8, 9] and x[1].tolist() == [7, 8, 0, 0]


def test_tasks_keep_the_unit_order_whatever_the_batch_sizes(monkeypatch):
    monkeypatch.setattr(E, "CHUNK_CHARS", 10)
    batches = [["ab", "cd"], ["x" * 30], ["e"] * 25, ["f", "g"], ["y" * 11, "z"]]
    parts = list(E.chunks(batches))
    assert [u for p in parts for u in p] == [u for b in batches for u in b]
    assert len(parts) >= 5 and all(sum(map(len, p)) < 10 + 30 for p in parts)


def _touch_later(path):
    import time
    time.sleep(0.2)
    Path(path).touch()


def test_a_pass_stopped_early_lets_the_tasks_in_flight_end_before_the_next(tmp_path):
    import time
    with E.Workers(2, tmp_path / "parts") as pool:
        results = pool.map(_touch_later, ((str(tmp_path / f"t{i}"),) for i in range(100)))
        next(results)  # --max-tokens reached after the first task: 3 more were in flight (2 per worker)
        results.close()
        done = sorted(p.name for p in tmp_path.glob("t*"))
        time.sleep(0.5)
        assert done == sorted(p.name for p in tmp_path.glob("t*")) == ["t0", "t1", "t2", "t3"]


def test_the_cache_key_is_the_same_hashed_by_any_number_of_threads(tmp_path):
    files = []
    for i in range(5):
        (tmp_path / f"{i}.txt").write_text(f"text {i}\n" * (i + 1))
        files.append(str(tmp_path / f"{i}.txt"))
    keys = {cache.fingerprint({"a": 1}, files, W, t) for t in (1, 2, 4)}
    assert len(keys) == 1 and cache.fingerprint({"a": 1}, files[::-1], W, 2) not in keys


def test_workers_are_born_dying_on_sigterm_whatever_the_parent_handles():
    import multiprocessing
    with cache.interrupts_raise():  # the parent's SIGTERM raises; a worker must not run that before its initializer
        with E._born_quiet():
            pool = multiprocessing.get_context("fork").Pool(1)  # no initializer: what the worker was born with
        try:
            got = pool.apply(signal.getsignal, (signal.SIGTERM,)), pool.apply(signal.getsignal, (signal.SIGINT,))
        finally:
            pool.terminate()
            pool.join()
        assert callable(signal.getsignal(signal.SIGTERM))  # the parent's handler is back
    assert got == (signal.SIG_DFL, signal.SIG_IGN)


_RANK = """
import os, sys
import torch.distributed as dist
dist.init_process_group("gloo", init_method="file://" + sys.argv[2], rank=int(sys.argv[3]), world_size=2)
os.environ["LOCAL_RANK"] = sys.argv[3]
from wordmore.corpus import prepare
from wordmore.source import DataConfig
from wordmore.vocab import TokenizerConfig
c = prepare(DataConfig(dataset=sys.argv[1], workers=1), TokenizerConfig("word"))
dist.destroy_process_group()
"""


def test_under_torch_distributed_local_rank_0_prepares_and_the_others_wait(words_file, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), WORDMORE_CACHE=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-c", _RANK, str(words_file), str(tmp_path / "store"), str(r)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (1, 0)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert "data: encoded" in outs[1] and "reusing" in outs[0] and "waiting" not in outs[0]


@pytest.mark.parametrize("text,why", [("alice\nbob\n", "not JSON"), ("{}", "missing key"), ("[1, 2]", "got a list"),
                                      ('{"itos": ["a", 1]}', "missing key.*counts")])
def test_a_malformed_vocab_flag_is_one_clear_error(words_file, tmp_path, text, why):
    p = tmp_path / "names.txt"
    p.write_text(text)
    with pytest.raises(WordmoreError, match=f"--vocab {p}: not a vocabulary: .*{why}"):
        prepare(DataConfig(dataset=str(words_file), vocab=str(p)), W, **QUIET)


def test_a_damaged_vocab_json_of_an_encoded_corpus_is_named(words_file, tmp_path):
    a = prepare(DataConfig(dataset=str(words_file)), W, **QUIET)
    (a.folder / "vocab.json").write_text('{"itos": ["<s>"], "counts": [1, 2], "tokenizer": {}}')
    with pytest.raises(WordmoreError, match="vocab.json: not a vocabulary: 1 tokens in itos but 2 counts"):
        K.Corpus(a.folder)


@pytest.mark.parametrize("val,test", [(0.6, 0.5), (0.5, 0.5)])
def test_split_fractions_must_leave_text_to_train_on(words_file, val, test):
    with pytest.raises(WordmoreError, match=f"--val-frac {val} and --test-frac {test} add up to"):
        prepare(DataConfig(dataset=str(words_file), val_frac=val, test_frac=test), W, **QUIET)


def test_empty_held_out_splits_are_said(words_file):
    said = []
    c = prepare(DataConfig(dataset=str(words_file), val_frac=0.0, test_frac=0.0), W, log=said.append)
    assert c.meta["tokens"]["val"] == c.meta["tokens"]["test"] == 1
    assert sum("split is empty (--val-frac 0)" in s or "split is empty (--test-frac 0)" in s for s in said) == 2
    said.clear()
    prepare(DataConfig(dataset=str(words_file)), W, log=said.append)
    assert not any("is empty" in s for s in said)


@pytest.mark.parametrize("max_vocab", [1, 2])
def test_a_max_vocab_too_small_for_any_token_names_max_vocab(words_file, max_vocab):
    with pytest.raises(WordmoreError, match=f"--max-vocab {max_vocab} leaves no room"):
        prepare(DataConfig(dataset=str(words_file), max_vocab=max_vocab, min_count=1), W, **QUIET)


def test_an_empty_vocabulary_names_the_flag_that_emptied_it():
    from types import SimpleNamespace
    tally = SimpleNamespace(index={"a": 0, "b": 1}, counts=np.array([3, 2]), n_tokens=5, n_units=2)
    src = SimpleNamespace(name="x")
    with pytest.raises(WordmoreError, match="--max-vocab 2 leaves no room"):
        K._vocabulary(tally, DataConfig(max_vocab=2), W, src)
    with pytest.raises(WordmoreError, match="after --min-count 4"):
        K._vocabulary(tally, DataConfig(min_count=4, max_vocab=2), W, src)
