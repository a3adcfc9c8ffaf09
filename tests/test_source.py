"""Text sources: the direct text reader against `datasets`' text builder, local json/parquet through `datasets`,
split slicing, streaming caps and node shards (the hub path, tested on local files)."""
import json

import numpy as np
import pytest

from wordmore import source as S
from wordmore.corpus import prepare
from wordmore.source import DataConfig
from wordmore.errors import WordmoreError
from wordmore.vocab import TokenizerConfig

W = TokenizerConfig("word")
QUIET = dict(log=lambda *a: None)


@pytest.mark.parametrize("sample_by", ["line", "paragraph", "document"])
def test_direct_reader_cuts_units_as_the_datasets_text_builder(tmp_path, monkeypatch, sample_by):
    p = tmp_path / "t.txt"
    p.write_bytes(b"a b\r\nc\rd\n\n\n\ne f\n\n \n\ng\xff h\n\n\n" + b"x y z\n" * 50 + b"\n\nlast")
    monkeypatch.setattr(S, "_READ", 7)  # parts end mid-paragraph and mid-line
    import datasets
    ref = datasets.load_dataset("text", data_files=[str(p)], split="train", sample_by=sample_by,
                                encoding_errors="replace", cache_dir=str(tmp_path / "hf"))["text"]
    assert [u for b in S.file_units(str(p), sample_by) for u in b] == [u for u in ref if u]


def _jsonl(tmp_path, n=40):
    p = tmp_path / "rows.jsonl"
    p.write_text("\n".join(json.dumps({"text": f"the king number {i} met the queen", "id": i}) for i in range(n)))
    return p


def test_jsonl_and_parquet_go_through_datasets_with_split_slicing(tmp_path):
    p = _jsonl(tmp_path)
    src = S.resolve(str(p), DataConfig())
    assert src.kind == "data"
    full = prepare(DataConfig(dataset=str(p)), W, **QUIET)
    half = prepare(DataConfig(dataset=str(p), hf_split="train[:50%]"), W, **QUIET)
    assert full.meta["units"] == 40 and half.meta["units"] == 20
    import pyarrow as pa
    import pyarrow.parquet as pq
    q = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"body": [f"the prince {i} and the princess" for i in range(30)]}), q)
    ints = tmp_path / "ints.jsonl"
    ints.write_text("\n".join(json.dumps({"text": "the king", "n": i}) for i in range(10)))
    with pytest.raises(WordmoreError, match="column 'n' holds int64 values, not text"):
        prepare(DataConfig(dataset=str(ints), text_column="n"), W, **QUIET)
    with pytest.raises(WordmoreError, match="no column 'text'"):
        prepare(DataConfig(dataset=str(q)), W, **QUIET)
    par = prepare(DataConfig(dataset=str(q), text_column="body", num_proc=2), W, **QUIET)
    assert par.meta["units"] == 30 and "princess" in par.vocab


def test_local_files_refuse_a_split_name_and_a_text_column_they_would_ignore(tmp_path):
    p, txt = _jsonl(tmp_path), tmp_path / "t.txt"
    txt.write_text("the king and the queen\n\nthe prince and the princess\n\nthe end\n")
    for ds, flags, msg in [(p, {"hf_split": "validation"}, "--hf-split 'validation': local files are one split"),
                           (txt, {"hf_split": "test[:10%]"}, "--hf-split 'test\\[:10%\\]': local files are one split"),
                           (txt, {"text_column": "body"}, "--text-column 'body': plain text files have one column")]:
        with pytest.raises(WordmoreError, match=msg):
            prepare(DataConfig(dataset=str(ds), **flags), W, **QUIET)
    assert prepare(DataConfig(dataset=str(txt), hf_split="train[:100%]"), W, **QUIET).meta["units"] == 3
    S.check_flags("hub", DataConfig(hf_split="validation", text_column="x"))  # a hub dataset has both: no error
    S.check_flags("data", DataConfig(text_column="body"))  # csv, json, parquet have columns
    S.check_flags("hub", DataConfig(revision="main", data_files="a/*.txt"))
    for flags, flag in (({"revision": "main"}, "--revision"), ({"data_files": "x*.txt"}, "--data-files")):
        with pytest.raises(WordmoreError, match=f"{flag} is for hub datasets: local files are read as they are"):
            prepare(DataConfig(dataset=str(txt), **flags), W, **QUIET)
    with pytest.raises(WordmoreError, match="--hf-split 'validation': local files are one split"):
        S.resolve("fairy", DataConfig(hf_split="validation", cache_dir=str(tmp_path / "c")))  # a catalog corpus
    assert not (tmp_path / "c").exists()  # refused before any download was tried


def test_a_stream_is_sliced_with_skip_take_and_gives_the_same_encoding(tmp_path):
    p = _jsonl(tmp_path)
    a = prepare(DataConfig(dataset=str(p), hf_split="train[5:25]"), W, **QUIET)
    b = prepare(DataConfig(dataset=str(p), hf_split="train[5:25]", streaming=True), W, **QUIET)
    assert a.meta["units"] == b.meta["units"] == 20 and a.vocab.itos == b.vocab.itos
    for s in ("train", "val", "test"):
        assert np.array_equal(np.asarray(a.splits[s]), np.asarray(b.splits[s]))
    with pytest.raises(WordmoreError, match="row numbers"):
        prepare(DataConfig(dataset=str(p), hf_split="train[:10%]", streaming=True), W, **QUIET)


def test_an_endless_stream_stops_at_max_tokens(tmp_path, monkeypatch):
    def endless():
        i = 0
        while True:
            yield f"the king said {i} words"
            i += 1
    batches = lambda src, cfg, sample_by, stats: ([u] for u in endless())
    monkeypatch.setattr("wordmore.corpus.text_units", batches)
    c = prepare(DataConfig(dataset=str(_jsonl(tmp_path)), streaming=True, max_tokens=5000), W, **QUIET)
    assert c.meta["raw_tokens"] == 5000 and c.meta["units"] == 1000


def test_streams_are_sharded_by_node_and_need_one_vocabulary(tmp_path, monkeypatch):
    p = _jsonl(tmp_path)
    vocab = prepare(DataConfig(dataset=str(p)), W, **QUIET).folder
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(WordmoreError, match="--vocab"):
        prepare(DataConfig(dataset=str(p), streaming=True), W, **QUIET)
    seen = []
    for rank in ("0", "2"):  # local rank 0 of node 0 and of node 1
        monkeypatch.setenv("RANK", rank)
        assert S.node_shard() == (int(rank) // 2, 2)
        c = prepare(DataConfig(dataset=str(p), streaming=True, vocab=str(vocab)), W, **QUIET)
        seen.append(c.meta["units"])
    assert seen == [20, 20]


def test_split_specs():
    assert S.parse_split("train") == ("train", None, None, False)
    assert S.parse_split("train[:10%]") == ("train", None, 10, True)
    assert S.parse_split("validation[100:200]") == ("validation", 100, 200, False)
    with pytest.raises(WordmoreError, match="expected NAME"):
        S.parse_split("train[a:b]")


def test_hub_options_reach_load_dataset(monkeypatch):
    got = {}
    import datasets
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: got.update(args=a, **k) or [])
    src = S.resolve("someone/corpus:en", DataConfig())
    S.load_texts(src, DataConfig(revision="v1.0", data_files="a/*.parquet, b.parquet", num_proc=4,
                                 hf_split="train[:1%]"), "paragraph")
    assert got["args"] == ("someone/corpus", "en") and got["revision"] == "v1.0"
    assert got["data_files"] == ["a/*.parquet", "b.parquet"] and got["num_proc"] == 4 and got["split"] == "train[:1%]"


def test_a_mistyped_file_in_a_local_folder_is_not_sent_to_the_hub(tmp_path, monkeypatch):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "a.txt").write_text("hello there\n")
    monkeypatch.chdir(tmp_path)
    for spec in ("tiny/a.tx", "./tiny/b/c", "tiny/a.tx:cfg"):
        with pytest.raises(WordmoreError, match=r"no such file, folder or catalog corpus: .*tiny exists here"):
            S.resolve(spec, DataConfig())
    assert S.resolve("tiny/a.txt", DataConfig()).kind == "files"
    assert S.resolve("someone/corpus", DataConfig()).kind == "hub"  # no local folder 'someone'


@pytest.mark.parametrize("offline", ["1", ""])
def test_the_hub_hint_fits_hf_hub_offline(monkeypatch, offline):
    import datasets
    def refuse(*a, **k):
        raise ConnectionError("Couldn't reach 'nobody/x' on the Hub")
    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", offline)
    with pytest.raises(WordmoreError, match="could not load dataset 'nobody/x'") as e:
        S.load_texts(S.resolve("nobody/x", DataConfig()), DataConfig(), "line")
    assert ("set HF_HUB_OFFLINE=1" in str(e.value)) == (not offline)
    assert ("HF_HUB_OFFLINE is set" in str(e.value)) == bool(offline)
