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


@pytest.mark.parametrize("tok", [W, C, TokenizerConfig("word", punct=True)], ids=["word", "char", "punct"])
def test_every_worker_count_gives_the_same_bytes(words_file, tmp_path, monkeypatch, tok):
    monkeypatch.setattr(E, "CHUNK_CHARS", 3000)  # many chunks, so the workers really share the text
    got = []
    for w in (1, 2, 3):
        c = prepare(DataConfig(dataset=str(words_file), workers=w, cache_dir=str(tmp_path / f"c{w}")), tok, **QUIET)
        got.append((_files(c.folder), c.meta["units"], c.meta["raw_tokens"]))
    assert got[0] == got[1] == got[2]
    assert got[0][1] == 300


def test_max_tokens_keeps_whole_units_up_to_the_cap(words_file):
    full = prepare(DataConfig(dataset=str(words_file)), W, **QUIET)
    cut = prepare(DataConfig(dataset=str(words_file), max_tokens=1000), W, **QUIET)
    assert 900 < cut.meta["raw_tokens"] <= 1000 and cut.meta["units"] < full.meta["units"]
    assert cut.folder != full.folder


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
    def full(ids_path, table, labels, dtype, boundary, folder, names):
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
