"""Parallel encoding in two passes over tasks: workers read their own byte ranges of the files (or take units
the parent sends), tokenize and write ids in their own token numbering; the parent merges only each worker's
new tokens and counts; then the workers remap their ids straight into the three pre-sized split files."""
from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import re
import shutil
import signal
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .vocab import TokenizerConfig, encode_units

SHARD_BYTES = 1 << 22  # bytes of text files per task; a bigger file is cut near multiples of it
CHUNK_CHARS = 1 << 22  # characters of text per task when the parent reads it (through `datasets`)
_SCAN = 1 << 16  # bytes read at a time while looking for a unit boundary
_END = rb"(?:\r\n|\r(?!\n)|\n)"  # one line end as text mode reads it (a \r\n is never two)
_ENDS = {1: re.compile(_END + rb"+(?![\r\n])"), 2: re.compile(_END + rb"{2,}(?![\r\n])")}
_STATES: dict = {}  # per process, per encoding (its parts folder): its token index (the ids' numbering), tables


def n_workers(requested: int) -> int:
    """Worker processes: the request, or every core this process may use."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def plan(files: list[str], sample_by: str, step: int = 0) -> list[tuple]:
    """Tasks of about `step` bytes: runs of (file, start, end) ranges, a bigger file cut at multiples of step
    (whole files for documents). Sizes only, nothing read: the same tasks for any worker count."""
    step = step or SHARD_BYTES
    tasks, cur, size = [], [], 0
    for f in files:
        n = os.path.getsize(f)
        cuts = [0, n] if sample_by == "document" or n <= step else [*range(0, n, step), n]
        for a, b in zip(cuts, cuts[1:]):
            if cur and size + b - a > step:
                tasks.append(("files", cur, sample_by))
                cur, size = [], 0
            cur.append((f, a, b))
            size += b - a
    if cur:
        tasks.append(("files", cur, sample_by))
    return tasks


def unit_start(f, x: int, ends: int) -> int:
    """The first unit boundary at or after byte x of an open binary file: just past a run of line ends
    (\\n, \\r\\n or \\r, as text mode reads them) of at least `ends` seen from x on, or the end of the file."""
    if x <= 0:
        return 0
    f.seek(x)
    pat, buf, base = _ENDS[ends], b"", x
    while True:
        more = f.read(_SCAN)
        buf += more
        m = pat.search(buf)
        if m and (m.end() < len(buf) or not more):  # a run that touches the buffer's end may go on
            return base + m.end()
        if not more:
            return base + len(buf)
        keep = len(buf.rstrip(b"\r\n"))  # only a trailing run of line ends can still grow into a boundary
        base, buf = base + keep, buf[keep:]


def read_range(path: str, start: int, end: int, sample_by: str) -> tuple[list[str], int]:
    """The units of bytes [start, end) of a file, both ends moved to unit boundaries, as source.file_units
    cuts them (at most a line end, which holds no token, differs), and the replacement characters in them."""
    with open(path, "rb") as f:
        if sample_by == "document":
            raw = f.read()
        else:
            ends = 1 if sample_by == "line" else 2
            a, b = unit_start(f, start, ends), unit_start(f, end, ends)
            f.seek(a)
            raw = f.read(max(0, b - a))
    text = raw.decode("utf-8", "replace")
    del raw
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = text.count("\ufffd")
    units = [text] if sample_by == "document" else text.split("\n" if sample_by == "line" else "\n\n")
    return [u for u in units if u], bad


def chunks(batches: Iterable[list[str]]) -> Iterator[list[str]]:
    """Batches of units regrouped into tasks of about CHUNK_CHARS characters (the same cut for any worker count)."""
    buf, size = [], 0
    for batch in batches:
        chars = sum(map(len, batch))
        if chars > CHUNK_CHARS and len(batch) > 1:  # a big batch: cut into parts of about CHUNK_CHARS, in order
            if buf:
                yield buf
                buf, size = [], 0
            step = max(1, len(batch) * CHUNK_CHARS // chars)
            for i in range(0, len(batch), step):
                yield from chunks([batch[i:i + step]])
            continue
        buf += batch
        size += chars
        if size >= CHUNK_CHARS:
            yield buf
            buf, size = [], 0
    if buf:
        yield buf


class Workers:
    """The worker processes of one encoding (its parts in `parts`), for both passes; with one worker the tasks
    run in this process."""

    def __init__(self, n: int, parts: Path):
        self.n, self.parts, self.pool = n, Path(parts), None

    def __enter__(self) -> "Workers":
        self.parts.mkdir(parents=True, exist_ok=True)
        if self.n > 1:  # fork where there is one (Linux): children never re-run __main__, and start at once
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with _born_quiet():
                self.pool = multiprocessing.get_context(method).Pool(self.n, initializer=_worker_signals)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        _STATES.pop(str(self.parts), None)

    def map(self, fn: Callable, args: Iterable[tuple]) -> Iterator:
        """fn(*a) for each a, results in order; at most 2 tasks per worker in flight, so memory stays flat."""
        if self.pool is None:
            for a in args:
                yield fn(*a)
            return
        pending: collections.deque = collections.deque()
        try:
            for a in args:
                pending.append(self.pool.apply_async(fn, a))
                if len(pending) >= 2 * self.n:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()
        except GeneratorExit:  # the caller stopped early: what is in flight ends before the next pass starts
            for r in pending:
                r.wait()
            raise


@contextlib.contextmanager
def _born_quiet():
    """Workers are born dying on SIGTERM and ignoring Ctrl-C: with this process's handlers (which raise, see
    cache.interrupts_raise) a worker terminated before the pool's initializer ran could linger and hang."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, h) for s, h in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.SIG_IGN))}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)


def _worker_signals() -> None:
    """Workers die quietly on the pool's SIGTERM and leave Ctrl-C to the parent (not the parent's handlers)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _state(parts: str) -> dict:
    """This process's state for the encoding whose files are in `parts`."""
    return _STATES.setdefault(parts, {"index": {}, "tables": {}})


def _count_task(k: int, task: tuple, tok: TokenizerConfig, parts: str) -> tuple:
    """Pass 1 of task k in a worker: its units tokenized, its ids (this process's numbering, -1 closing each
    unit) and unit lengths written to parts/k.ids and k.len; returns what the parent merges."""
    kind, payload, sample_by = task
    units, bad = payload, 0
    if kind == "files":
        units = []
        for path, a, b in payload:
            got, n = read_range(path, a, b, sample_by)
            units += got
            bad += n
    tokens, ids, n_units = encode_units(units, tok)  # ids (n,) into tokens, -1 closing each unit
    del units
    index = _state(parts)["index"]
    base = len(index)
    local = np.fromiter((index.setdefault(t, len(index)) for t in tokens), dtype=np.int32, count=len(tokens))
    new = [tokens[i] for i in np.flatnonzero(local >= base).tolist()]  # in the order they were numbered
    end = ids < 0  # (n,)
    counts = np.bincount(ids[~end], minlength=len(tokens))  # (distinct,)
    np.append(local, -1)[ids].astype(np.int32, copy=False).tofile(os.path.join(parts, f"{k}.ids"))  # (n,) int32
    ends = np.flatnonzero(end)  # (units,)
    (np.diff(ends, prepend=-1) - 1).astype(np.int32).tofile(os.path.join(parts, f"{k}.len"))  # (units,)
    return k, os.getpid(), base, "\n".join(new), len(new), local, counts, n_units, int(len(ids) - len(ends)), bad


class Tally:
    """The parent's merge: one token index in first-merged order, its counts, each worker's numbering mapped
    to it, and the tasks kept (--max-tokens stops at a whole unit)."""

    def __init__(self, parts: Path, max_tokens: int = 0):
        self.parts, self.max_tokens = parts, max_tokens
        self.index: dict[str, int] = {}
        self.counts = np.zeros(1 << 16, dtype=np.int64)  # (capacity,)
        self.maps: dict[int, np.ndarray] = {}  # worker pid -> (its tokens,) index ids
        self.tasks: list[tuple] = []  # (k, pid, units, ids) of each task kept, in order
        self.n_units = self.n_tokens = self.replaced = 0

    def add(self, k, pid, base, joined, n_new, local, counts, n_units, n_tokens, bad) -> bool:
        """Merge task k's result (tasks in order); False once --max-tokens is reached."""
        index, old = self.index, self.maps.get(pid, np.zeros(0, dtype=np.int64))
        if len(old) != base:
            raise RuntimeError(f"encode: worker {pid} numbered {base} tokens, the parent merged {len(old)}")
        new = np.fromiter((index.setdefault(t, len(index)) for t in (joined.split("\n") if n_new else ())),
                          dtype=np.int64, count=n_new)  # (n_new,) index ids of the worker's new tokens
        gmap = self.maps[pid] = np.concatenate([old, new])  # (worker's tokens,)
        if len(index) > len(self.counts):
            self.counts = np.concatenate([self.counts, np.zeros(len(index) + len(self.counts), np.int64)])
        full = bool(self.max_tokens) and self.n_tokens + n_tokens >= self.max_tokens
        n_ids = n_tokens + n_units
        if full:  # whole units up to the cap, counted again from what the worker wrote
            upto = np.cumsum(np.fromfile(self.parts / f"{k}.len", dtype=np.int32), dtype=np.int64)  # (units,)
            n_units = int(np.searchsorted(upto, self.max_tokens - self.n_tokens, side="right"))
            n_tokens = int(upto[n_units - 1]) if n_units else 0
            n_ids = n_tokens + n_units
            ids = np.fromfile(self.parts / f"{k}.ids", dtype=np.int32, count=n_ids)  # (n_ids,)
            local, counts = np.arange(len(gmap)), np.bincount(ids[ids >= 0], minlength=len(gmap))
        self.counts[gmap[local]] += counts
        self.tasks.append((k, pid, n_units, n_ids))
        self.n_units += n_units
        self.n_tokens += n_tokens
        self.replaced += bad
        return not full

    def close(self) -> None:
        """The counts trimmed to the index."""
        self.counts = self.counts[:len(self.index)]


def count(pool: Workers, tasks: Iterable[tuple], tok: TokenizerConfig, max_tokens: int = 0,
          progress: Callable = lambda n: None) -> Tally:
    """Pass 1: every task tokenized by the workers, merged in order, until --max-tokens."""
    tally = Tally(pool.parts, max_tokens)
    args = ((k, t, tok, str(pool.parts)) for k, t in enumerate(tasks))
    with contextlib.closing(pool.map(_count_task, args)) as results:
        for res in results:
            before = tally.n_tokens
            more = tally.add(*res)
            progress(tally.n_tokens - before)
            if not more:
                break
    tally.close()
    return tally


def split_labels(n_units: int, val_frac: float, test_frac: float, seed: int) -> np.ndarray:
    """0/1/2 (train/val/test) per unit: a seeded permutation, exact fractions (makemore's lecture split)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(n_units, dtype=np.uint8)  # (units,)
    perm = rng.permutation(n_units)  # (units,)
    n_val = max(1, int(round(n_units * val_frac))) if val_frac > 0 else 0
    n_test = max(1, int(round(n_units * test_frac))) if test_frac > 0 else 0
    labels[perm[n_units - n_val - n_test:n_units - n_test]] = 1
    labels[perm[n_units - n_test:]] = 2
    return labels


def write_splits(pool: Workers, tally: Tally, table: np.ndarray, labels: np.ndarray, dtype, boundary: int,
                 folder: Path, names=("train", "val", "test")) -> list[int]:
    """Pass 2: the split files sized from the unit lengths, each starting with a boundary; the workers
    write every task's final ids at its offsets. Token counts."""
    parts = tally.parts
    for pid, gmap in tally.maps.items():  # each worker's numbering -> final ids, the boundary last (for -1)
        np.save(parts / f"map{pid}.npy", np.append(table[gmap], boundary).astype(dtype))
    jobs, sizes, u0 = [], [1] * len(names), 0
    paths = [str(folder / f"{s}.bin") for s in names]
    for k, pid, n_units, n_ids in tally.tasks:
        lab = labels[u0:u0 + n_units]  # (units,)
        per = np.fromfile(parts / f"{k}.len", dtype=np.int32, count=n_units).astype(np.int64) + 1  # (units,)
        jobs.append((str(parts), k, pid, n_ids, lab, list(sizes), paths))
        sizes = [n + int(per[lab == s].sum()) for s, n in enumerate(sizes)]
        u0 += n_units
    for path, n in zip(paths, sizes):
        with open(path, "wb") as f:
            f.write(np.asarray([boundary], dtype=dtype).tobytes())
            f.truncate(n * np.dtype(dtype).itemsize)
    for _ in pool.map(_write_task, jobs):
        pass
    shutil.rmtree(parts)
    return sizes


def _write_task(parts: str, k: int, pid: int, n_ids: int, lab: np.ndarray, offsets: list, paths: list) -> None:
    """Pass 2 of task k in a worker: its ids in final numbering, each unit's into its split's file."""
    tables = _state(parts)["tables"]
    if pid not in tables:
        tables[pid] = np.load(os.path.join(parts, f"map{pid}.npy"))  # (worker's tokens + 1,)
    table = tables[pid]
    ids = np.fromfile(os.path.join(parts, f"{k}.ids"), dtype=np.int32, count=n_ids)  # (n,) -1 closing units
    end = ids < 0
    where = lab[np.cumsum(end) - end]  # (n,) the split of each id's unit
    final = table[ids]  # (n,) -1 reads the boundary
    for s, path in enumerate(paths):
        part = final[where == s]
        if len(part):
            with open(path, "r+b") as f:
                f.seek(offsets[s] * table.itemsize)
                f.write(part.tobytes())
    os.unlink(os.path.join(parts, f"{k}.ids"))


def read_chunks(path: Path, dtype, step: int, count: int = -1) -> Iterator[np.ndarray]:
    """The ids of a file, step at a time, read (not memory-mapped, so resident memory stays flat)."""
    with open(path, "rb") as f:
        while count:
            n = step if count < 0 else min(step, count)
            a = np.fromfile(f, dtype=dtype, count=n)
            if not len(a):
                return
            count -= len(a) if count > 0 else 0
            yield a
