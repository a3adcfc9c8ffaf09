"""Where text comes from: the data settings, dataset specs (catalog, files, hub ids) and their text units."""
from __future__ import annotations

import glob as globlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

from .atomic import atomic_path
from .errors import WordmoreError
from .options import opt

CATALOG_PATH = Path(__file__).resolve().parent.parent / "data" / "catalog.json"
DATA_EXTS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}  # read by `datasets`
_READ = 10 << 20  # characters read from a text file at a time


@dataclass
class DataConfig:
    """Where the text comes from and how it is cut into units, vocabulary and splits."""

    dataset: str = opt("", "catalog name (names, fairy, ...), local file/folder/glob "
                         "(.txt, or .jsonl/.parquet/.csv read by `datasets`), hub id OWNER/NAME[:CONFIG], or an "
                         "encoded corpus folder (the cache folder a run prints)")
    hf_split: str = opt("train", "split to read, with slicing: train, train[:10%%], "
                          "train[1000:5000] (take/skip when streaming)")
    revision: str = opt("", "hub dataset revision (branch, tag or commit)")
    data_files: str = opt("", "hub dataset: only these files (comma-separated globs)")
    text_column: str = opt("text", "column holding the text")
    sample_by: Literal["", "line", "paragraph", "document"] = opt(
        "", "text unit: line | paragraph | document ('' = the catalog's, else line for char, paragraph for word)")
    streaming: bool = opt(False, "stream the dataset (read once; for corpora larger "
                            "than RAM or disk); under torchrun on several nodes each node reads its shard")
    num_proc: int = opt(0, "processes `datasets` uses to build a hub dataset (0 = one)", min=0)
    max_tokens: int = opt(0, "read whole text units up to this many tokens (0 = all)", min=0)
    vocab: str = opt("", "vocab.json of an earlier run (or its encoded corpus folder): "
                       "use its tokens instead of counting a vocabulary")
    workers: int = opt(0, "processes that tokenize (0 = all cores)", min=0, max=1024)
    min_count: int = opt(1, "drop tokens seen fewer times", min=1)
    max_vocab: int = opt(0, "keep at most this many entries (0 = all)", min=0)
    val_frac: float = opt(0.1, "fraction of text units for validation", min=0.0, lt=1.0)
    test_frac: float = opt(0.1, "fraction of text units for test", min=0.0, lt=1.0)
    split_seed: int = opt(42, "seed of the unit permutation into splits", min=0)
    cache_dir: str = opt("", "cache folder ('' = $WORDMORE_CACHE or ~/.cache/wordmore)")

    def conflict(self) -> str | None:
        """Why these fields cannot hold together (None when they can)."""
        if self.val_frac + self.test_frac >= 1:
            return (f"--val-frac {self.val_frac} and --test-frac {self.test_frac} add up to "
                    f"{self.val_frac + self.test_frac:g}: they must leave text to train on (a sum below 1)")
        if 0 < self.max_vocab < 3:
            return (f"--max-vocab {self.max_vocab} leaves no room for a token: it counts the boundary and <unk> "
                    f"entries too; give at least 3 (or 0 for all)")
        return None


def cache_root(cfg: DataConfig) -> Path:
    """Folder for downloads and encoded corpora."""
    root = cfg.cache_dir or os.environ.get("WORDMORE_CACHE") or Path.home() / ".cache" / "wordmore"
    return Path(root)


def load_catalog() -> dict:
    """The named corpora in data/catalog.json (beside the package, or installed under share/)."""
    path = CATALOG_PATH if CATALOG_PATH.exists() else Path(sys.prefix) / "share" / "wordmore" / "catalog.json"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def canonical(spec: str) -> str:
    """A local file's or folder's absolute path, so a run resumes from any folder; other specs as given."""
    if not spec or spec in load_catalog() or any(ch in spec for ch in "*?[") or not Path(spec).expanduser().exists():
        return spec
    return str(Path(spec).expanduser().resolve())


@dataclass
class Source:
    """A resolved dataset spec."""

    kind: str  # files (plain text) | data (local json/parquet/csv) | hub
    files: list
    hub_id: str = ""
    hub_config: str | None = None
    sample_by: str = ""
    name: str = ""


def _text_files(folder: Path) -> list[str]:
    files = sorted(str(p) for p in folder.rglob("*.txt") if p.is_file())
    if not files:
        files = sorted(str(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return files


def _strip_gutenberg(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith("*** START OF")), -1)
    end = next((i for i, l in enumerate(lines) if l.startswith("*** END OF")), len(lines))
    return "\n".join(lines[start + 1:end])


def _download_catalog(name: str, entry: dict, dest: Path) -> list[str]:
    urls = entry.get("urls") or []
    if not urls:
        raise OSError("the catalog lists no download address for it")
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for url in urls:
        out = dest / (url.rstrip("/").split("/")[-1] or "data.txt")
        if not out.exists():
            import urllib.request
            with urllib.request.urlopen(url, timeout=30) as r:
                raw = r.read()
            text = raw.decode("utf-8", errors="replace")
            if entry.get("gutenberg"):
                text = _strip_gutenberg(text)
            with atomic_path(out, "w", encoding="utf-8") as f:
                f.write(text)
        files.append(str(out))
    return files


def _catalog_source(spec: str, entry: dict, cfg: DataConfig) -> Source:
    tried = []
    env = os.environ.get("WORDMORE_DATA")
    if env:
        local = Path(env) / spec
        tried.append(f"{local}/ (from $WORDMORE_DATA)")
        if local.is_dir() and _text_files(local):
            return Source("files", _text_files(local), sample_by=entry.get("sample_by", ""), name=spec)
    else:
        tried.append("$WORDMORE_DATA/<name>/ ($WORDMORE_DATA is not set)")
    dl = cache_root(cfg) / "downloads" / spec
    if dl.is_dir() and (dl / ".complete").exists():
        return Source("files", _text_files(dl), sample_by=entry.get("sample_by", ""), name=spec)
    tried.append(f"downloading {len(entry.get('urls', []))} file(s) into {dl}/")
    try:
        files = _download_catalog(spec, entry, dl)
        (dl / ".complete").write_text("ok\n")
    except OSError as e:
        raise WordmoreError(
            f"corpus {spec!r} is not available: tried {'; '.join(tried)} ({e}). "
            f"Point at local text with --dataset PATH (a .txt file, a folder or a glob), "
            f"or set WORDMORE_DATA to a folder holding {spec}/") from None
    return Source("files", files, sample_by=entry.get("sample_by", ""), name=spec)


def _local(files: list[str], name: str) -> Source:
    kinds = {DATA_EXTS.get(Path(f).suffix.lower()) for f in files}
    if len(kinds) > 1:
        raise WordmoreError(f"{name}: mixes plain text and {'/'.join(sorted(k for k in kinds if k))} files; "
                            f"pass one kind")
    return Source("data" if kinds != {None} else "files", files, name=name)


def resolve(spec: str, cfg: DataConfig) -> Source:
    """Turn a dataset spec into files or a hub id (flags it would ignore refused); downloads catalog corpora."""
    catalog = load_catalog()
    if spec in catalog:  # plain text files: the flags are checked before any download
        check_flags("files", cfg)
        return _catalog_source(spec, catalog[spec], cfg)
    src = _find(spec, catalog)
    check_flags(src.kind, cfg)
    return src


def _find(spec: str, catalog: dict) -> Source:
    """A local file, folder or glob, or a hub id (catalog: for the message when it is none of them)."""
    if not spec:
        raise WordmoreError("no dataset given: pass --dataset NAME|PATH|HUB_ID")
    p = Path(spec).expanduser()
    if p.is_file():
        return _local([str(p)], p.name)
    if p.is_dir():
        files = _text_files(p)
        if not files:
            raise WordmoreError(f"folder {spec} holds no files")
        return _local(files, p.name)
    if any(ch in spec for ch in "*?["):
        files = sorted(f for f in globlib.glob(str(p), recursive=True) if os.path.isfile(f))
        if not files:
            raise WordmoreError(f"no file matches {spec}")
        return _local(files, spec)
    rel = Path(spec.partition(":")[0])
    top = rel.parts[0] if len(rel.parts) > 1 and not rel.is_absolute() and not spec.startswith("~") else ""
    if top and Path(top).exists():  # under a local file or folder: a mistyped path, not a hub id
        raise WordmoreError(f"no such file, folder or catalog corpus: {spec} ({top} exists here, so it is read "
                            f"as a local path, not a hub id)")
    looks_like_path = spec.startswith((".", "/", "~")) or spec.endswith((".txt", ".text", ".gz")) or os.sep in spec and spec.count("/") > 1
    if looks_like_path or "/" not in spec and ":" not in spec:
        names = ", ".join(sorted(catalog))
        raise WordmoreError(f"no such file, folder or catalog corpus: {spec} (catalog: {names}; "
                            f"a hub dataset is OWNER/NAME[:CONFIG])")
    hub_id, _, config = spec.partition(":")
    return Source("hub", [], hub_id=hub_id, hub_config=config or None, name=spec)


def check_flags(kind: str, cfg: DataConfig) -> None:
    """Refuse the data flags (split name, column, revision, data files) a source of this kind would ignore."""
    if kind != "hub" and (cfg.revision or cfg.data_files):
        raise WordmoreError(f"{'--revision' if cfg.revision else '--data-files'} is for hub datasets: local files are "
                            f"read as they are (give the files you want as --dataset: a file, folder or glob)")
    if kind != "hub" and parse_split(cfg.hf_split)[0] != "train":
        raise WordmoreError(f"--hf-split {cfg.hf_split!r}: local files are one split, train (slice it, as in "
                            f"train[:10%], or give the other split's files)")
    if kind == "files" and cfg.text_column != "text":
        raise WordmoreError(f"--text-column {cfg.text_column!r}: plain text files have one column, text "
                            f"(--text-column is for csv, json and parquet files and hub datasets)")


def parse_split(split: str) -> tuple[str, int | None, int | None, bool]:
    """'train[10:20%]' -> ('train', 10, 20, True when the bounds are percentages)."""
    m = re.fullmatch(r"\s*([\w.-]+)\s*(?:\[\s*(-?\d*)\s*(%?)\s*:\s*(-?\d*)\s*(%?)\s*\])?\s*", split or "")
    if not m:
        raise WordmoreError(f"--hf-split {split!r}: expected NAME or NAME[START:STOP] (numbers or percentages)")
    name, a, pa, b, pb = m.groups()
    if (pa or pb) and not ((pa or not a) and (pb or not b)):
        raise WordmoreError(f"--hf-split {split!r}: give both bounds in % or neither")
    return name, int(a) if a else None, int(b) if b else None, bool(pa or pb)


def load_texts(src: Source, cfg: DataConfig, sample_by: str):
    """A `datasets` Dataset (or IterableDataset when streaming) of text rows."""
    import datasets
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    name = parse_split(cfg.hf_split)[0]
    split = name if cfg.streaming else cfg.hf_split  # a stream is sliced with skip/take
    extra = {} if cfg.streaming or cfg.num_proc <= 1 else {"num_proc": cfg.num_proc}
    try:
        if src.kind == "files":
            ds = datasets.load_dataset("text", data_files={name: src.files}, split=split, sample_by=sample_by,
                                       encoding_errors="replace", streaming=cfg.streaming, **extra)
        elif src.kind == "data":
            builder = DATA_EXTS[Path(src.files[0]).suffix.lower()]
            ds = datasets.load_dataset(builder, data_files={name: src.files}, split=split,
                                       streaming=cfg.streaming, **extra)
        else:
            files = [f.strip() for f in cfg.data_files.split(",") if f.strip()] or None
            ds = datasets.load_dataset(src.hub_id, src.hub_config, split=split, streaming=cfg.streaming,
                                       revision=cfg.revision or None, data_files=files, **extra)
    except FileNotFoundError as e:
        raise WordmoreError(f"dataset {src.name}: {e}") from None
    except Exception as e:  # hub unreachable, unknown id, bad config: one line, no traceback
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if src.kind != "hub" else (
            " (HF_HUB_OFFLINE is set: only datasets already in the Hugging Face cache load; unset it to download, "
            "or pass local text with --dataset PATH)" if _hub_offline() else
            " (no network? set HF_HUB_OFFLINE=1 to fail fast, or pass local text with --dataset PATH)")
        raise WordmoreError(f"could not load dataset {src.name!r}: {type(e).__name__}: {msg}{hint}") from None
    return _slice_stream(ds, cfg) if cfg.streaming else ds


def _hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or HF_DATASETS_OFFLINE) is set, as huggingface_hub reads it."""
    return any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _slice_stream(ds, cfg: DataConfig):
    """A stream's split slice as skip/take; under torchrun on several nodes, this node's shard."""
    _, a, b, pct = parse_split(cfg.hf_split)
    if a is not None or b is not None:
        if pct or (a or 0) < 0 or (b or 0) < 0:
            raise WordmoreError(f"--hf-split {cfg.hf_split!r}: a stream is sliced by row numbers >= 0 "
                                f"(its length is unknown); drop --streaming for percentages")
        ds = ds.skip(a or 0)
        if b is not None:
            ds = ds.take(max(0, b - (a or 0)))
    node, nodes = node_shard()
    if nodes > 1:
        from datasets.distributed import split_dataset_by_node
        ds = split_dataset_by_node(ds, rank=node, world_size=nodes)
    return ds


def node_shard() -> tuple[int, int]:
    """(this node, number of nodes) under torchrun; (0, 1) otherwise."""
    world, local = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_WORLD_SIZE", 0) or 0)
    local = local or world
    return int(os.environ.get("RANK", 0)) // local, max(1, world // local)


def _column(ds, cfg: DataConfig) -> str:
    names = list(ds.column_names or []) if getattr(ds, "column_names", None) else []
    if not names and getattr(ds, "features", None):
        names = list(ds.features)
    if names and cfg.text_column not in names:
        raise WordmoreError(f"dataset has no column {cfg.text_column!r} (columns: {', '.join(names)}); "
                            f"pass --text-column")
    dtype = getattr((getattr(ds, "features", None) or {}).get(cfg.text_column), "dtype", "string")
    if dtype not in ("string", "large_string"):
        raise WordmoreError(f"column {cfg.text_column!r} holds {dtype} values, not text; pass --text-column "
                            f"with a text column (columns: {', '.join(names)})")
    return cfg.text_column


def iter_text(ds, column: str, stats: dict | None = None) -> Iterator[str]:
    """Text rows of a dataset; counts replacement characters (invalid UTF-8) into stats."""
    for batch in ds.iter(batch_size=2000):
        for t in batch[column]:
            if t is None:
                continue
            if stats is not None and "\ufffd" in t:
                stats["replaced"] = stats.get("replaced", 0) + t.count("\ufffd")
            yield t


def file_units(path: str, sample_by: str, stats: dict | None = None) -> Iterator[list[str]]:
    """Batches of the text units of one file, cut exactly as by the `datasets` text builder, read in parts."""
    with open(path, encoding="utf-8", errors="replace") as f:
        if sample_by == "document":
            yield _counted([f.read()], stats)
            return
        sep, carry = ("\n" if sample_by == "line" else "\n\n"), ""
        while True:
            new = f.read(_READ)
            if not new:
                break
            new += f.readline()
            _replaced(new, stats)
            pieces = (carry + new).split(sep)
            carry = pieces.pop()
            yield [u for u in pieces if u]
        yield [carry] if carry else []


def _replaced(text: str, stats: dict | None) -> None:
    """Count replacement characters (invalid UTF-8) into stats."""
    bad = text.count("\ufffd") if stats is not None else 0
    if bad:
        stats["replaced"] = stats.get("replaced", 0) + bad


def _counted(units: list[str], stats: dict | None) -> list[str]:
    """The non-empty units; replacement characters counted into stats."""
    units = [u for u in units if u]
    _replaced("\n".join(units), stats)
    return units


def text_units(src: Source, cfg: DataConfig, sample_by: str, stats: dict) -> Iterator[list[str]]:
    """Every text unit of a source, in order and in batches: plain text files read directly, the rest
    through `datasets`."""
    if src.kind == "files" and parse_split(cfg.hf_split)[1:3] == (None, None):
        for path in src.files:
            yield from file_units(path, sample_by, stats)
        return
    ds = load_texts(src, cfg, sample_by)
    column = _column(ds, cfg)
    for batch in ds.iter(batch_size=2000):
        yield _counted([t for t in batch[column] if t is not None], stats)
