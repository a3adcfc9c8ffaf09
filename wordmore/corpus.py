"""An encoded corpus: its folder (vocabulary, one memory-mapped id stream per split), checked on load, and
prepare(), which makes it once from a dataset spec under a lock or reuses it."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from . import cache
from .encode import Tally, Workers, chunks, count, n_workers, plan, read_chunks, split_labels, write_splits
from .errors import WordmoreError
from .source import DataConfig, Source, cache_root, node_shard, parse_split, resolve, text_units
from .vocab import TokenizerConfig, Vocab

ENCODING_VERSION = 1
SPLITS = ("train", "val", "test")
DTYPES = {"uint16": np.uint16, "uint32": np.uint32}  # the only id types a corpus folder may name
CHECK_STEP = 1 << 22  # ids checked against the vocabulary at a time (at most 16 MiB read at once)


def _meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise WordmoreError(f"{folder}/meta.json is not readable JSON") from None
    if not isinstance(meta, dict) or meta.get("version") != ENCODING_VERSION or not isinstance(meta.get("tokens"), dict):
        raise WordmoreError(f"{folder} is not an encoded corpus of format {ENCODING_VERSION}")
    if meta.get("dtype", "uint16") not in DTYPES:
        raise WordmoreError(f"encoded corpus {folder}: dtype {meta.get('dtype')!r} is not one of {', '.join(DTYPES)}")
    for s in SPLITS:
        n, f = meta["tokens"].get(s, 0), folder / f"{s}.bin"
        if not isinstance(n, int) or n < 0:
            raise WordmoreError(f"encoded corpus {folder}: meta.json gives {s} a bad token count {n!r}")
        if n and (not f.is_file() or f.stat().st_size != n * np.dtype(DTYPES[meta.get("dtype", "uint16")]).itemsize):
            raise WordmoreError(f"encoded corpus {folder}: {s}.bin is missing or has the wrong size")
    return meta


class Corpus:
    """An encoded corpus: vocabulary plus one memory-mapped id stream per split (checked when opened)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.meta = _meta(self.folder)
        self.vocab = Vocab.load(self.folder / "vocab.json", f"encoded corpus {self.folder}: vocab.json")
        dtype = DTYPES[self.meta.get("dtype", "uint16")]
        self.splits = {}
        for s in SPLITS:
            n = self.meta["tokens"].get(s, 0)
            self.splits[s] = (np.memmap(self.folder / f"{s}.bin", dtype=dtype, mode="r", shape=(n,))
                              if n else np.zeros(0, dtype=dtype))
            self._check_ids(s)

    def _check_ids(self, split: str) -> None:
        """Every id below the vocabulary size: one vectorised pass in chunks (memory stays flat)."""
        n, v = len(self.splits[split]), len(self.vocab)
        if not n:
            return
        for chunk in read_chunks(self.folder / f"{split}.bin", self.splits[split].dtype, CHECK_STEP, n):
            top = int(chunk.max())
            if top >= v:
                raise WordmoreError(f"encoded corpus {self.folder}: {split}.bin holds id {top}, but the "
                                    f"vocabulary has {v} entries (a damaged or mismatched folder)")

    def __repr__(self):
        t = self.meta["tokens"]
        return f"Corpus(vocab={len(self.vocab)}, train={t['train']}, val={t['val']}, test={t['test']})"


def encoded_folder(spec: str) -> Path | None:
    """The folder if spec names an encoded corpus (meta.json, vocab.json, train.bin), else None."""
    p = Path(spec).expanduser() if spec else None
    if p is None or not (p / "meta.json").is_file() or not (p / "vocab.json").is_file():
        return None
    _meta(p)
    return p


def _settings(src: Source, cfg: DataConfig, sample_by: str) -> dict:
    vocab_file = _vocab_path(cfg.vocab)
    return {"v": ENCODING_VERSION, "kind": src.kind, "hub": [src.hub_id, src.hub_config, cfg.hf_split],
            "revision": cfg.revision, "data_files": cfg.data_files, "sample_by": sample_by,
            "min_count": cfg.min_count, "max_vocab": cfg.max_vocab, "fracs": [cfg.val_frac, cfg.test_frac],
            "seed": cfg.split_seed, "column": cfg.text_column, "max_tokens": cfg.max_tokens,
            "vocab": cache.content_hash(vocab_file) if vocab_file else "",
            "shard": list(node_shard()) if cfg.streaming else [0, 1]}


def _vocab_path(spec: str) -> str:
    if not spec:
        return ""
    p = Path(spec).expanduser()
    p = p / "vocab.json" if p.is_dir() else p
    if not p.is_file():
        raise WordmoreError(f"--vocab {spec}: no such vocab.json (give a run's or an encoded corpus's)")
    return str(p)


def _distributed():
    """(local rank, barrier) under an initialised torch.distributed group of several processes, else None."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized() or dist.get_world_size() < 2:
        return None
    return int(os.environ.get("LOCAL_RANK", 0)), dist.barrier


def prepare(cfg: DataConfig, tok: TokenizerConfig, min_tokens: int = 2, log=print) -> Corpus:
    """Load, count, build the vocabulary and encode (or reuse the cached encoding). Any number of processes
    may call it at once: one prepares under a file lock, the others wait and reuse; under torch.distributed
    local rank 0 prepares while the other ranks wait at a barrier."""
    why = cfg.conflict()
    if why:
        raise WordmoreError(why)
    enc = encoded_folder(cfg.dataset)
    if enc is not None:  # an encoded corpus folder (from this cache or shipped from another machine)
        corpus = Corpus(enc)
        if corpus.vocab.tokenizer.level != tok.level:
            raise WordmoreError(f"encoded corpus {enc} is {corpus.vocab.tokenizer.level}-level, not {tok.level}")
        log(f"data: using encoded corpus {enc} ({corpus}); its vocabulary and splits are used as they are")
        return corpus
    dist = _distributed()
    if dist is not None and dist[0] != 0:
        dist[1]()  # local rank 0 prepares first
    try:
        corpus = _prepare_locked(cfg, tok, min_tokens, log)
    finally:
        if dist is not None and dist[0] == 0:
            dist[1]()
    _say_empty_splits(corpus, log)
    return corpus


def _say_empty_splits(corpus: Corpus, log) -> None:
    """A note when the validation or test split holds no text (its loss then reads nan)."""
    empty = [s for s in SPLITS[1:] if corpus.meta["tokens"].get(s, 0) <= 1]  # a lone boundary is no text
    for s in empty:
        name = "validation" if s == "val" else s
        log(f"data: note: the {name} split is empty (--{s}-frac 0): the {name} loss will read nan")


def _prepare_locked(cfg: DataConfig, tok: TokenizerConfig, min_tokens: int, log) -> Corpus:
    src = resolve(cfg.dataset, cfg)
    sample_by = cfg.sample_by or src.sample_by or ("line" if tok.level == "char" else "paragraph")
    if sample_by not in ("line", "paragraph", "document"):
        raise WordmoreError(f"--sample-by must be line, paragraph or document, not {sample_by!r}")
    if cfg.streaming and node_shard()[1] > 1 and not cfg.vocab:
        raise WordmoreError("a stream sharded over several nodes needs one vocabulary on all of them: "
                            "pass --vocab FILE (a vocab.json of an earlier run)")
    key = cache.fingerprint(_settings(src, cfg, sample_by), src.files, tok, n_workers(cfg.workers))
    folder = cache_root(cfg) / "encoded" / f"{(src.name or 'corpus').replace('/', '_')[:40]}-{key}"
    with cache.locked(folder, log):
        if (folder / "meta.json").exists():
            try:
                corpus = Corpus(folder)
                log(f"data: reusing encoded corpus {folder} ({corpus})")
                return corpus
            except WordmoreError as e:
                log(f"data: re-encoding: the cached {e}")
        cache.remove_stale(folder)
        shutil.rmtree(folder, ignore_errors=True)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        try:
            with cache.interrupts_raise():
                tmp.mkdir(parents=True)
                _build(src, cfg, tok, sample_by, tmp, min_tokens, log)
                os.replace(tmp, folder)
        except OSError as e:
            raise cache.os_error(e, folder.parent) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Corpus(folder)


def _build(src: Source, cfg: DataConfig, tok: TokenizerConfig, sample_by: str, tmp: Path, min_tokens: int,
           log) -> None:
    """Tokenize the text in parallel, build the vocabulary and write the folder tmp."""
    t0 = time.time()
    if src.kind == "files" and sum(os.path.getsize(f) for f in src.files) == 0:
        raise WordmoreError(f"corpus {src.name} is empty (0 bytes)")
    stats: dict = {}
    workers = n_workers(cfg.workers)
    if src.kind == "files" and parse_split(cfg.hf_split)[1:3] == (None, None):  # the workers read the files
        tasks = plan(src.files, sample_by)
        workers = min(workers, len(tasks))
    else:  # the text comes through `datasets`, read here
        tasks = (("units", part, sample_by) for part in chunks(text_units(src, cfg, sample_by, stats)))
    from tqdm import tqdm
    bar = tqdm(desc=f"encode ({workers} worker{'s' * (workers > 1)})", unit=" tokens", unit_scale=True,
               mininterval=1.0, disable=not sys.stderr.isatty())
    with Workers(workers, tmp / "parts") as pool:
        try:
            tally = count(pool, tasks, tok, cfg.max_tokens, bar.update)
        finally:
            bar.close()
        replaced = stats.get("replaced", 0) + tally.replaced
        if replaced:
            log(f"warning: {replaced} invalid UTF-8 byte sequence(s) in {src.name} were replaced with U+FFFD")
        vocab, table = _vocabulary(tally, cfg, tok, src)
        if tally.n_units < 3:
            fix = ("give a larger --max-tokens" if cfg.max_tokens else "give more text" if sample_by == "line"
                   else "try --sample-by line")
            raise WordmoreError(f"corpus {src.name} has {tally.n_units} text unit(s) (sample_by={sample_by}"
                                f"{f', --max-tokens {cfg.max_tokens:,}' if cfg.max_tokens else ''}); "
                                f"a train/val/test split needs at least 3: {fix}")
        labels = split_labels(tally.n_units, cfg.val_frac, cfg.test_frac, cfg.split_seed)
        dtype = np.uint16 if len(vocab) < 2 ** 16 else np.uint32
        counts = write_splits(pool, tally, table, labels, dtype, vocab.boundary_id, tmp, SPLITS)
    if counts[0] < min_tokens:
        raise WordmoreError(f"corpus {src.name} is too small: {counts[0]} training tokens, "
                            f"need at least {min_tokens} for the context window")
    vocab.save(tmp / "vocab.json")
    meta = {"version": ENCODING_VERSION, "source": src.name, "files": len(src.files), "sample_by": sample_by,
            "units": tally.n_units, "tokens": dict(zip(SPLITS, counts)), "raw_tokens": tally.n_tokens,
            "dtype": np.dtype(dtype).name, "replaced_chars": replaced, "seconds": round(time.time() - t0, 2)}
    from .atomic import atomic_write_text
    atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=1))
    log(f"data: encoded {src.name}: {tally.n_tokens:,} tokens in {tally.n_units:,} units, vocab {len(vocab):,}, "
        f"{time.time() - t0:.1f}s with {workers} worker(s) -> {tmp.name.rsplit('.tmp', 1)[0]}")


def _vocabulary(tally: Tally, cfg: DataConfig, tok: TokenizerConfig, src: Source) -> tuple[Vocab, np.ndarray]:
    """The vocabulary (counted, or --vocab's with this text's counts) and each merged id's final id."""
    tokens, counts = list(tally.index), tally.counts
    if tally.n_tokens == 0:
        cut = f" within --max-tokens {cfg.max_tokens:,}" if cfg.max_tokens else ""
        raise WordmoreError(f"corpus {src.name} is empty: no {tok.level} tokens in it{cut}")
    if cfg.vocab:
        path = _vocab_path(cfg.vocab)
        given = Vocab.load(path, f"--vocab {path}")
        if given.tokenizer != tok:
            raise WordmoreError(f"--vocab {cfg.vocab} was made with {given.tokenizer}, not {tok}")
        vocab = given
    else:
        vocab = Vocab.build(dict(zip(tokens, counts.tolist())), tok, n_units=tally.n_units,
                            min_count=cfg.min_count, max_vocab=cfg.max_vocab or None)
        if vocab.n_words() == 0 and counts.max(initial=0) >= cfg.min_count:
            raise WordmoreError(f"vocabulary is empty: --max-vocab {cfg.max_vocab} leaves no room beside the "
                                f"boundary and <unk> entries; give at least 3 (or 0 for all)")
        if vocab.n_words() == 0:
            raise WordmoreError(f"vocabulary is empty after --min-count {cfg.min_count} "
                                f"(the most frequent token occurs fewer times); lower --min-count")
    unk = -1 if vocab.unk_id is None else vocab.unk_id
    table = np.fromiter((vocab.stoi.get(t, unk) for t in tokens), dtype=np.int64, count=len(tokens))  # (V',)
    miss = (table < 0) & (counts > 0)  # tokens past --max-tokens are merged but not counted: no matter
    if miss.any():
        raise WordmoreError(f"--vocab {cfg.vocab} has no <unk> and misses {tokens[int(np.argmax(miss))]!r}")
    table = np.maximum(table, 0)
    if cfg.vocab:  # the given tokens, with this text's counts
        new = np.bincount(table, weights=counts, minlength=len(vocab)).astype(np.int64)
        new[vocab.boundary_id] = tally.n_units
        vocab = Vocab(vocab.itos, new.tolist(), tok)
    return vocab, table


def encode(cfg: DataConfig, tok: TokenizerConfig, log=print) -> Corpus:
    """`wordmore encode`: prepare the encoded corpus (or find it in the cache) and print its folder."""
    corpus = prepare(cfg, tok, log=log)
    t = corpus.meta["tokens"]
    log(f"data: {corpus.meta.get('raw_tokens', sum(t.values())):,} tokens, vocab {len(corpus.vocab):,}, "
        f"train/val/test {t['train']:,}/{t['val']:,}/{t['test']:,} ids")
    print(corpus.folder)
    return corpus
