"""The encoded-corpus cache: its key, its lock, checks on what it holds, and cleaning after killed runs."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import threading
from dataclasses import asdict
from pathlib import Path

from .errors import WordmoreError

SAMPLE = 1 << 20  # bytes hashed at each end of a file
BLOCKS, BLOCK = 16, 1 << 16  # and this many blocks spread over its middle


def content_hash(path: str) -> str:
    """Hash of a file's size, its first and last MiB and 16 blocks of 64 KiB between (the whole file when
    smaller): cheap at any size, and an edit with the modification time restored still changes the key."""
    h = hashlib.blake2b(digest_size=16)
    size = os.path.getsize(path)
    h.update(str(size).encode())
    with open(path, "rb") as f:
        if size <= 2 * SAMPLE + BLOCKS * BLOCK:
            h.update(f.read())
        else:
            h.update(f.read(SAMPLE))
            for k in range(1, BLOCKS + 1):
                f.seek(k * (size - SAMPLE) // (BLOCKS + 1))
                h.update(f.read(BLOCK))
            f.seek(size - SAMPLE)
            h.update(f.read(SAMPLE))
    return h.hexdigest()


def fingerprint(parts: dict, files: list[str], tok, threads: int = 1) -> str:
    """Cache key of an encoding: settings, tokenizer and its version, and each file's path and content hash
    (hashed by `threads` threads: reading and hashing let go of the GIL)."""
    from .vocab import TOKENIZER_VERSION
    if threads > 1 and len(files) > 1:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(min(threads, len(files))) as pool:
            hashes = list(pool.map(content_hash, files))
    else:
        hashes = [content_hash(f) for f in files]
    key = dict(parts, tok=asdict(tok), tok_version=TOKENIZER_VERSION,
               files=[(os.path.abspath(f), h) for f, h in zip(files, hashes)])
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def locked(folder: Path, log=print):
    """Hold an exclusive file lock beside folder (others wait for it); released when the process ends."""
    import fcntl
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"data: waiting for another process preparing {folder}")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def remove_stale(folder: Path) -> None:
    """Delete what killed runs left (folder.tmp<pid>); call only while holding the lock."""
    for p in folder.parent.glob(folder.name + ".tmp*"):
        shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def interrupts_raise():
    """SIGTERM raises KeyboardInterrupt meanwhile, so the temporary folder is removed on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def os_error(e: OSError, where: Path) -> WordmoreError:
    """One line for a failed write: disk full, read-only filesystem, no permission."""
    why = {errno.ENOSPC: "the disk is full", errno.EROFS: "the filesystem is read-only",
           errno.EACCES: "permission denied", errno.EDQUOT: "the disk quota is exceeded"}.get(e.errno)
    return WordmoreError(f"could not write the encoded corpus in {where}: {why or e.strerror or e} "
                         f"(nothing was left behind; free space or set --cache-dir / $WORDMORE_CACHE)")
