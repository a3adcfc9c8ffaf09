"""Corpora through Hugging Face `datasets`: resolve a spec, encode once to a memory-mapped id array, sample batches."""
from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import shutil
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

from .atomic import atomic_path, atomic_write_text
from .errors import WordmoreError
from .options import opt
from .vocab import TokenizerConfig, Vocab, count_tokens, iter_units

CATALOG_PATH = Path(__file__).resolve().parent.parent / "data" / "catalog.json"
ENCODING_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass
class DataConfig:
    """Where the text comes from and how it is cut into units, vocabulary and splits."""

    dataset: str = opt("", "catalog name (names, fairy, ...), local file/folder/glob, hub id OWNER/NAME[:CONFIG], "
                       "or an encoded corpus folder (the cache folder a run prints)")
    hf_split: str = opt("train", "split of a hub dataset to read")
    text_column: str = opt("text", "column holding the text")
    sample_by: Literal["", "line", "paragraph", "document"] = opt(
        "", "text unit: line | paragraph | document ('' = the catalog's or the level's choice)")
    streaming: bool = opt(False, "stream the dataset (for corpora larger than RAM)")
    min_count: int = opt(1, "drop tokens seen fewer times", min=1)
    max_vocab: int = opt(0, "keep at most this many entries (0 = all)", min=0)
    val_frac: float = opt(0.1, "fraction of text units held out for validation", min=0.0, lt=1.0)
    test_frac: float = opt(0.1, "fraction of text units held out for the test loss", min=0.0, lt=1.0)
    split_seed: int = opt(42, "seed of the train/val/test split", min=0)
    cache_dir: str = opt("", "folder for downloads and encoded corpora ('' = $WORDMORE_CACHE or ~/.cache/wordmore)")


def cache_root(cfg: DataConfig) -> Path:
    """Folder for downloads and encoded corpora."""
    root = cfg.cache_dir or os.environ.get("WORDMORE_CACHE") or Path.home() / ".cache" / "wordmore"
    return Path(root)


def load_catalog() -> dict:
    """The named corpora in data/catalog.json (beside the package, or installed under share/)."""
    path = CATALOG_PATH if CATALOG_PATH.exists() else Path(sys.prefix) / "share" / "wordmore" / "catalog.json"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@dataclass
class Source:
    """A resolved dataset spec."""

    kind: str  # files | hub
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
            with urllib.request.urlopen(url, timeout=30) as r:
                raw = r.read()
            text = raw.decode("utf-8", errors="replace")
            if entry.get("gutenberg"):
                text = _strip_gutenberg(text)
            with atomic_path(out, "w", encoding="utf-8") as f:
                f.write(text)
        files.append(str(out))
    return files


def resolve(spec: str, cfg: DataConfig) -> Source:
    """Turn a dataset spec into files or a hub id; downloads catalog corpora that are not local."""
    if not spec:
        raise WordmoreError("no dataset given: pass --dataset NAME|PATH|HUB_ID")
    catalog = load_catalog()
    if spec in catalog:
        entry = catalog[spec]
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
    p = Path(spec).expanduser()
    if p.is_file():
        return Source("files", [str(p)], name=p.name)
    if p.is_dir():
        files = _text_files(p)
        if not files:
            raise WordmoreError(f"folder {spec} holds no files")
        return Source("files", files, name=p.name)
    if any(ch in spec for ch in "*?["):
        files = sorted(f for f in globlib.glob(str(p), recursive=True) if os.path.isfile(f))
        if not files:
            raise WordmoreError(f"no file matches {spec}")
        return Source("files", files, name=spec)
    looks_like_path = spec.startswith((".", "/", "~")) or spec.endswith((".txt", ".text", ".gz")) or os.sep in spec and spec.count("/") > 1
    if looks_like_path or "/" not in spec and ":" not in spec:
        names = ", ".join(sorted(catalog))
        raise WordmoreError(f"no such file, folder or catalog corpus: {spec} (catalog: {names}; "
                            f"a hub dataset is OWNER/NAME[:CONFIG])")
    hub_id, _, config = spec.partition(":")
    return Source("hub", [], hub_id=hub_id, hub_config=config or None, name=spec)


def load_texts(src: Source, cfg: DataConfig, sample_by: str):
    """A `datasets` Dataset (or IterableDataset when streaming) of text rows."""
    import datasets
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        if src.kind == "files":
            ds = datasets.load_dataset("text", data_files={"train": src.files}, split="train",
                                       sample_by=sample_by, encoding_errors="replace",
                                       streaming=cfg.streaming)
        else:
            ds = datasets.load_dataset(src.hub_id, src.hub_config, split=cfg.hf_split,
                                       streaming=cfg.streaming)
    except FileNotFoundError as e:
        raise WordmoreError(f"dataset {src.name}: {e}") from None
    except Exception as e:  # hub unreachable, unknown id, bad config: one line, no traceback
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = (" (no network? set HF_HUB_OFFLINE=1 to fail fast, or pass local text with --dataset PATH)"
                if src.kind == "hub" else "")
        raise WordmoreError(f"could not load dataset {src.name!r}: {type(e).__name__}: {msg}{hint}") from None
    return ds


def _column(ds, cfg: DataConfig) -> str:
    names = list(ds.column_names or []) if getattr(ds, "column_names", None) else []
    if not names and getattr(ds, "features", None):
        names = list(ds.features)
    if cfg.text_column in names or not names:
        return cfg.text_column
    raise WordmoreError(f"dataset has no column {cfg.text_column!r} (columns: {', '.join(names)}); "
                        f"pass --text-column")


def iter_text(ds, column: str, stats: dict | None = None) -> Iterator[str]:
    """Text rows of a dataset; counts replacement characters (invalid UTF-8) into stats."""
    for batch in ds.iter(batch_size=2000):
        for t in batch[column]:
            if t is None:
                continue
            if stats is not None and "\ufffd" in t:
                stats["replaced"] = stats.get("replaced", 0) + t.count("\ufffd")
            yield t


class Corpus:
    """An encoded corpus: vocabulary plus one memory-mapped id stream per split."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        with open(self.folder / "meta.json", encoding="utf-8") as f:
            self.meta = json.load(f)
        with open(self.folder / "vocab.json", encoding="utf-8") as f:
            self.vocab = Vocab.from_dict(json.load(f))
        dtype = np.dtype(self.meta["dtype"])
        self.splits = {}
        for s in SPLITS:
            n = self.meta["tokens"][s]
            self.splits[s] = (np.memmap(self.folder / f"{s}.bin", dtype=dtype, mode="r", shape=(n,))
                              if n else np.zeros(0, dtype=dtype))

    def __repr__(self):
        t = self.meta["tokens"]
        return f"Corpus(vocab={len(self.vocab)}, train={t['train']}, val={t['val']}, test={t['test']})"


def encoded_folder(spec: str) -> Path | None:
    """The folder if spec names an encoded corpus (meta.json, vocab.json, train.bin), else None."""
    p = Path(spec).expanduser() if spec else None
    if p is None or not (p / "meta.json").is_file() or not (p / "vocab.json").is_file():
        return None
    try:
        meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise WordmoreError(f"{p}/meta.json is not readable JSON") from None
    if not isinstance(meta, dict) or meta.get("version") != ENCODING_VERSION or "tokens" not in meta:
        raise WordmoreError(f"{p} is not an encoded corpus of format {ENCODING_VERSION}")
    for s in SPLITS:
        n, f = meta["tokens"].get(s, 0), p / f"{s}.bin"
        if n and (not f.is_file() or f.stat().st_size != n * np.dtype(meta.get("dtype", "uint16")).itemsize):
            raise WordmoreError(f"encoded corpus {p}: {s}.bin is missing or has the wrong size")
    return p


def _fingerprint(src: Source, cfg: DataConfig, tok: TokenizerConfig, sample_by: str) -> str:
    parts = {"v": ENCODING_VERSION, "kind": src.kind, "hub": [src.hub_id, src.hub_config, cfg.hf_split],
             "tok": asdict(tok), "sample_by": sample_by, "min_count": cfg.min_count,
             "max_vocab": cfg.max_vocab, "fracs": [cfg.val_frac, cfg.test_frac], "seed": cfg.split_seed,
             "column": cfg.text_column,
             "files": [(os.path.abspath(f), os.path.getsize(f), os.path.getmtime(f)) for f in src.files]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def prepare(cfg: DataConfig, tok: TokenizerConfig, min_tokens: int = 2, log=print) -> Corpus:
    """Load, count, build the vocabulary and encode (or reuse the cached encoding)."""
    enc = encoded_folder(cfg.dataset)
    if enc is not None:  # an encoded corpus folder (from this cache or shipped from another machine)
        corpus = Corpus(enc)
        if corpus.vocab.tokenizer.level != tok.level:
            raise WordmoreError(f"encoded corpus {enc} is {corpus.vocab.tokenizer.level}-level, not {tok.level}")
        log(f"data: using encoded corpus {enc} ({corpus}); its vocabulary and splits are used as they are")
        return corpus
    src = resolve(cfg.dataset, cfg)
    sample_by = cfg.sample_by or src.sample_by or ("line" if tok.level == "char" else "paragraph")
    if sample_by not in ("line", "paragraph", "document"):
        raise WordmoreError(f"--sample-by must be line, paragraph or document, not {sample_by!r}")
    key = _fingerprint(src, cfg, tok, sample_by)
    folder = cache_root(cfg) / "encoded" / f"{(src.name or 'corpus').replace('/', '_')[:40]}-{key}"
    if (folder / "meta.json").exists():
        corpus = Corpus(folder)
        log(f"data: reusing encoded corpus {folder} ({corpus})")
        return corpus
    t0 = time.time()
    if src.kind == "files" and sum(os.path.getsize(f) for f in src.files) == 0:
        raise WordmoreError(f"corpus {src.name} is empty (0 bytes)")
    ds = load_texts(src, cfg, sample_by)
    column = _column(ds, cfg)
    stats: dict = {}
    from tqdm import tqdm
    pbar = tqdm(iter_text(ds, column, stats), desc="count", unit=" units", mininterval=1.0,
                disable=not sys.stderr.isatty())
    counter, n_units, n_tokens = count_tokens(pbar, tok)
    pbar.close()
    if stats.get("replaced"):
        log(f"warning: {stats['replaced']} invalid UTF-8 byte sequence(s) in {src.name} were "
            f"replaced with U+FFFD")
    if n_tokens == 0:
        raise WordmoreError(f"corpus {src.name} is empty: no {tok.level} tokens in it")
    vocab = Vocab.build(counter, tok, n_units=n_units, min_count=cfg.min_count,
                        max_vocab=cfg.max_vocab or None)
    del counter
    if vocab.n_words() == 0:
        raise WordmoreError(f"vocabulary is empty after --min-count {cfg.min_count} "
                            f"(the most frequent token occurs fewer times); lower --min-count")
    if n_units < 3:
        raise WordmoreError(f"corpus {src.name} has {n_units} text unit(s) (sample_by={sample_by}); "
                            f"a train/val/test split needs at least 3: try --sample-by line")
    # split by unit: a seeded permutation, exact fractions (makemore's lecture split)
    rng = np.random.default_rng(cfg.split_seed)
    labels = np.zeros(n_units, dtype=np.uint8)
    perm = rng.permutation(n_units)
    n_val = max(1, int(round(n_units * cfg.val_frac))) if cfg.val_frac > 0 else 0
    n_test = max(1, int(round(n_units * cfg.test_frac))) if cfg.test_frac > 0 else 0
    labels[perm[n_units - n_val - n_test:n_units - n_test]] = 1
    labels[perm[n_units - n_test:]] = 2
    del perm
    dtype = np.uint16 if len(vocab) < 2 ** 16 else np.uint32
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    outs = [open(tmp / f"{s}.bin", "wb") for s in SPLITS]
    counts = [0, 0, 0]
    bufs: list[list[int]] = [[], [], []]
    b = vocab.boundary_id
    for i in range(3):
        bufs[i].append(b)  # every stream starts at a boundary
    pbar = tqdm(total=n_units, desc="encode", unit=" units", mininterval=1.0,
                disable=not sys.stderr.isatty())
    for u, toks in enumerate(iter_units(iter_text(ds, column), tok)):
        if u >= n_units:
            break
        s = labels[u]
        buf = bufs[s]
        buf.extend(vocab.encode(toks))
        buf.append(b)
        if len(buf) > 1 << 20:
            arr = np.asarray(buf, dtype=dtype)
            outs[s].write(arr.tobytes())
            counts[s] += len(arr)
            buf.clear()
        pbar.update(1)
    pbar.close()
    for s in range(3):
        if bufs[s]:
            arr = np.asarray(bufs[s], dtype=dtype)
            outs[s].write(arr.tobytes())
            counts[s] += len(arr)
        outs[s].close()
    if counts[0] < min_tokens:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WordmoreError(f"corpus {src.name} is too small: {counts[0]} training tokens, "
                            f"need at least {min_tokens} for the context window")
    vocab.save(tmp / "vocab.json")
    meta = {"version": ENCODING_VERSION, "source": src.name, "files": len(src.files), "sample_by": sample_by,
            "units": n_units, "tokens": dict(zip(SPLITS, counts)), "raw_tokens": n_tokens,
            "dtype": np.dtype(dtype).name, "replaced_chars": stats.get("replaced", 0),
            "seconds": round(time.time() - t0, 2)}
    atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    corpus = Corpus(folder)
    log(f"data: encoded {src.name}: {n_tokens:,} tokens in {n_units:,} units, vocab {len(vocab):,}, "
        f"{time.time() - t0:.1f}s -> {folder}")
    return corpus


def window_offsets(context: int, window: str) -> list[int]:
    """Relative positions of the context tokens around target position 0."""
    if window == "left":
        return list(range(-context, 0))
    if window == "both":
        return list(range(-context, 0)) + list(range(1, context + 1))
    raise WordmoreError(f"unknown window {window!r}: choose left or both")


def mask_boundaries(ctx, boundary: int, n_left: int):
    """Blank context tokens that lie beyond a boundary token, so windows never cross units."""
    import torch
    is_b = ctx == boundary  # (B, T)
    left, right = is_b[:, :n_left], is_b[:, n_left:]
    # left side: anything before the last boundary becomes boundary
    after = torch.flip(torch.cumsum(torch.flip(left.int(), [1]), 1), [1]) - left.int()  # boundaries strictly after
    # right side: anything after the first boundary becomes boundary
    before = torch.cumsum(right.int(), 1) - right.int()
    mask = torch.cat([after > 0, before > 0], 1)  # (B, T)
    return ctx.masked_fill(mask, boundary)


class Batcher:
    """Random (context, target) batches from one split's id stream, on CPU (memmap) or on the device."""

    def __init__(self, stream: np.ndarray, boundary: int, context: int, window: str, device="cpu",
                 keep_prob=None):
        import torch
        self.n = len(stream)
        self.boundary = boundary
        self.offsets = window_offsets(context, window)
        self.n_left = context
        self.device = torch.device(device)
        if self.device.type == "cpu":
            self.stream = stream  # memory-mapped, read per batch
        else:
            self.stream = torch.from_numpy(np.asarray(stream, dtype=np.int32)).to(self.device)
        self.off = torch.tensor(self.offsets, device=self.device)
        self.keep = None if keep_prob is None else torch.as_tensor(keep_prob, dtype=torch.float32, device=self.device)
        self.thinned = None  # thin(): the text the windows read, closed up, and where each position lands in it

    def gather(self, pos):
        """Windows and targets at positions pos (a 1-D LongTensor)."""
        import torch
        cpu = self.device.type == "cpu"
        if self.thinned is None:
            text, idx = self.stream, pos[:, None] + self.off[None, :]  # (B, T)
        else:  # the nearest kept tokens on each side of the target, in the thinned text
            at = ((lambda a: torch.from_numpy(a[pos.numpy()]).long()) if cpu else (lambda a: a[pos].long()))
            base = torch.where(self.off < 0, at(self.before)[:, None], at(self.after)[:, None] - 1)  # (B, T)
            text, idx = self.thinned, base + self.off  # (B, T)
        out = (idx < 0) | (idx >= self.n)
        idx = idx.clamp(0, self.n - 1)
        if cpu:
            ctx = torch.from_numpy(text[idx.numpy()].astype(np.int64))  # (B, T)
            y = torch.from_numpy(self.stream[pos.numpy()].astype(np.int64))  # (B,)
        else:
            ctx = text[idx].long()
            y = self.stream[pos].long()
        ctx = ctx.masked_fill(out, self.boundary)
        return mask_boundaries(ctx, self.boundary, self.n_left), y

    def sample_positions(self, batch_size: int, gen):
        """batch_size random target positions; with keep_prob, targets are subsampled (word2vec style)."""
        import torch
        if self.keep is None:
            return torch.randint(1, self.n, (batch_size,), generator=gen, device=self.device)
        if self.device.type != "cpu":  # on the device: no host sync, accepted candidates first
            cand = torch.randint(1, self.n, (4 * batch_size,), generator=gen, device=self.device)
            u = torch.rand(cand.shape, generator=gen, device=self.device)
            ok = u < self.keep[self.stream[cand].long()]
            order = torch.argsort((~ok).to(torch.int8), stable=True)[:batch_size]
            return cand[order]
        got, need = [], batch_size
        while need > 0:
            cand = torch.randint(1, self.n, (2 * batch_size,), generator=gen, device=self.device)
            if self.device.type == "cpu":
                tgt = torch.from_numpy(self.stream[cand.numpy()].astype(np.int64))
            else:
                tgt = self.stream[cand].long()
            u = torch.rand(cand.shape, generator=gen, device=self.device)
            ok = cand[u < self.keep[tgt]]
            got.append(ok[:need])
            need -= len(got[-1])
        return torch.cat(got)

    thin_chunk = 1 << 22  # tokens thinned at a time: the temporaries stay small on a large corpus

    def thin(self, keep_prob, seed: int) -> int:
        """word2vec's subsampling of the text: each token is dropped with its probability (boundaries never)
        and the kept ones close up; from now on windows read the thinned text, so they reach past dropped
        frequent words, while targets are still drawn from the whole text. The same seed thins alike.
        Returns the length of the thinned text."""
        import torch
        cpu = self.device.type == "cpu"
        if self.thinned is None:  # buffers written in place at every call: a captured CUDA graph reads them
            self.thinned, self.before, self.after = (np.empty(self.n, np.int32) if cpu else
                                                     torch.empty(self.n, dtype=torch.int32, device=self.device)
                                                     for _ in range(3))
        view = (lambda a: torch.from_numpy(a)) if cpu else (lambda a: a)
        thinned, before, after = view(self.thinned), view(self.before), view(self.after)  # (n,) each
        keep = torch.as_tensor(keep_prob, dtype=torch.float32).clone()  # (V,)
        keep[self.boundary] = 1.0
        keep = keep.to(self.device)
        g = torch.Generator(device=self.device).manual_seed(seed)
        m = 0  # kept so far
        for i in range(0, self.n, self.thin_chunk):
            j = min(i + self.thin_chunk, self.n)
            src = torch.from_numpy(np.asarray(self.stream[i:j], dtype=np.int32)) if cpu else self.stream[i:j]  # (c,)
            mask = torch.rand(j - i, generator=g, device=self.device) < keep[src.long()]  # (c,) kept
            kept = src[mask]  # (k,)
            thinned[m:m + kept.numel()] = kept
            upto = torch.cumsum(mask, 0, dtype=torch.int32) + m  # (c,) kept tokens up to and including each
            after[i:j] = upto
            before[i:j] = upto - mask.int()  # kept tokens strictly before each position
            m += kept.numel()
        thinned[m:] = self.boundary  # past the end: windows see a boundary
        return m

    def sample(self, batch_size: int, gen):
        """A random batch: (B, T) contexts and (B,) targets."""
        return self.gather(self.sample_positions(batch_size, gen))

    def eval_positions(self, max_tokens: int, seed: int = 1234):
        """Fixed positions for validation: all of them, or a seeded subset."""
        import torch
        if self.n - 1 <= max_tokens:
            return torch.arange(1, self.n, device=self.device)
        g = torch.Generator().manual_seed(seed)
        return torch.randint(1, self.n, (max_tokens,), generator=g).to(self.device)


def subsample_keep(counts, t: float) -> np.ndarray:
    """word2vec's keep probability per token: sqrt(t/f) + t/f, capped at 1."""
    c = np.asarray(counts, dtype=np.float64)
    f = c / max(c.sum(), 1)
    with np.errstate(divide="ignore"):
        p = np.sqrt(t / f) + t / f
    p[~np.isfinite(p)] = 1.0
    return np.minimum(p, 1.0).astype(np.float32)
