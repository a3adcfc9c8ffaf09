"""Parallel encoding: text units tokenized in worker processes, merged into one vocabulary and three split streams."""
from __future__ import annotations

import collections
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .vocab import TokenizerConfig, encode_units

CHUNK_CHARS = 1 << 22  # characters of text per task: big enough to amortise, small enough to stay flat
SPLIT_STEP = 1 << 20  # ids split into train/val/test at a time


def n_workers(requested: int) -> int:
    """Worker processes: the request, or every core this process may use."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


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


def encoded_chunks(parts: Iterable[list[str]], tok: TokenizerConfig, workers: int) -> Iterator[tuple]:
    """encode_units of every chunk, in order; at most 2 tasks per worker in flight, so memory stays flat."""
    if workers <= 1:
        for part in parts:
            yield encode_units(part, tok)
        return
    # fork where there is one (Linux): children never re-run the caller's __main__, and start at once
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers, initializer=_worker_signals) as pool:
        pending: collections.deque = collections.deque()
        for part in parts:
            pending.append(pool.apply_async(_encode_task, (part, tok)))
            if len(pending) >= 2 * workers:
                yield _unpack(*pending.popleft().get())
        while pending:
            yield _unpack(*pending.popleft().get())


def _encode_task(part: list[str], tok: TokenizerConfig) -> tuple:
    """encode_units in a worker, its tokens sent as one string (no token holds a newline): cheaper to pass."""
    tokens, ids, n = encode_units(part, tok)
    return "\n".join(tokens), len(tokens), ids, n


def _unpack(joined: str, n_tokens: int, ids: np.ndarray, n_units: int) -> tuple:
    return (joined.split("\n") if n_tokens else []), ids, n_units


def _worker_signals() -> None:
    """Workers die quietly on the pool's SIGTERM and leave Ctrl-C to the parent (not the parent's handlers)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _cap(ids: np.ndarray, room: int) -> np.ndarray:
    """The whole units of a chunk that fit in `room` tokens."""
    ends = np.flatnonzero(ids < 0)  # (units,)
    upto = np.cumsum(ids >= 0)[ends]  # (units,) tokens up to each unit's end
    fit = int(np.searchsorted(upto, room, side="right"))
    return ids[:ends[fit - 1] + 1] if fit else ids[:0]


class Merger:
    """Gathers chunk results: one token index in first-seen order, counts, and the stream of its ids on disk."""

    def __init__(self, path: Path, max_tokens: int = 0):
        self.index: dict[str, int] = {}
        self.counts = np.zeros(1 << 16, dtype=np.int64)  # (capacity,)
        self.n_units = self.n_tokens = 0
        self.max_tokens = max_tokens
        self.out = open(path, "wb")

    def add(self, tokens: list[str], ids: np.ndarray, n_units: int) -> bool:
        """Merge one chunk; False once --max-tokens is reached."""
        index = self.index
        new = sorted(set(tokens).difference(index))  # set operations and maps run in C: the merge stays light
        index.update(zip(new, range(len(index), len(index) + len(new))))
        remap = np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))  # (local,) global ids
        full = False
        if self.max_tokens and self.n_tokens + int((ids >= 0).sum()) >= self.max_tokens:
            ids, full = _cap(ids, self.max_tokens - self.n_tokens), True
            n_units = int((ids < 0).sum())
        gids = np.append(remap, -1)[ids]  # (n,) global ids, -1 closing each unit
        words = gids[gids >= 0]
        if len(index) > len(self.counts):
            self.counts = np.concatenate([self.counts, np.zeros(len(index) + len(self.counts), np.int64)])
        self.counts[:len(index)] += np.bincount(words, minlength=len(index))
        self.out.write(gids.astype(np.int32).tobytes())
        self.n_units += n_units
        self.n_tokens += len(words)
        return not full

    def close(self) -> None:
        """Flush the id stream."""
        self.out.close()
        self.counts = self.counts[:len(self.index)]


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


def write_splits(ids_path: Path, table: np.ndarray, labels: np.ndarray, dtype, boundary: int,
                 folder: Path, names=("train", "val", "test")) -> list[int]:
    """Final ids of the merged stream into one file per split; each starts with a boundary. Token counts."""
    table = np.append(table, boundary).astype(dtype)  # (V+1,) id -1 reads the boundary
    counts = [1, 1, 1]
    outs = [open(folder / f"{s}.bin", "wb") for s in names]
    try:
        for f in outs:
            f.write(np.asarray([boundary], dtype=dtype).tobytes())
        unit0 = 0
        for g in read_chunks(ids_path, np.int32, SPLIT_STEP):  # (c,) merged ids, -1 closing each unit
            end = g < 0
            unit = unit0 + np.cumsum(end, dtype=np.int64) - end  # (c,) the unit each id belongs to
            lab = labels[unit]  # (c,)
            fin = table[g]  # (c,)
            for s in range(3):
                part = fin[lab == s]
                outs[s].write(part.tobytes())
                counts[s] += len(part)
            unit0 += int(end.sum())
    finally:
        for f in outs:
            f.close()
    return counts


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
