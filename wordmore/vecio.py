"""Vector files without torch: word2vec text and binary, the .npy sidecar, projector files, gensim .kv."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path, refuse_special
from .errors import WordmoreError

# whitespace tokens (the char level's space) cannot stand in a word2vec line: written as visible stand-ins
_STAND_IN = {chr(c): chr(0x2400 + c) for c in range(0x20) if chr(c).isspace()} | {" ": "\u2423"}
_BACK = {v: k for k, v in _STAND_IN.items()}
SIDECAR_VERSION = 1


def visible(word: str) -> str:
    """word with whitespace replaced by visible stand-ins (space -> U+2423 '␣')."""
    return "".join(_STAND_IN.get(ch, ch) for ch in word) if any(ch in _STAND_IN for ch in word) else word


def unvisible(word: str) -> str:
    """Inverse of visible for a word written by it."""
    return "".join(_BACK.get(ch, ch) for ch in word) if any(ch in _BACK for ch in word) else word


def _file_words(words: list[str], path) -> list[str]:
    out = [visible(w) for w in words]
    if len(set(out)) != len(out):
        raise WordmoreError(f"cannot write {path}: two words are the same once whitespace is shown as "
                            f"{_STAND_IN[' ']!r} (the vocabulary holds both a whitespace token and its stand-in)")
    return out


# ---------------------------------------------------------------- reading

def read_vectors(path: Path, limit: int | None = None) -> tuple[list[str], np.ndarray]:
    """Words and (V, D) float32 vectors of a word2vec text/binary file or a gensim .kv file; limit: first N rows."""
    if limit is not None and limit < 1:
        raise WordmoreError(f"--limit must be at least 1, got {limit}")
    if path.is_dir():
        raise WordmoreError(f"{path} is a folder without embeddings.vec (pass a run directory or a vectors file)")
    if not path.exists():
        raise WordmoreError(f"no such vectors file: {path}")
    if path.suffix == ".kv":
        return _read_kv(path, limit)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise WordmoreError(f"cannot read {path}: {e.strerror}") from None
    if not head:
        raise WordmoreError(f"{path}: the file is empty (expected a 'COUNT DIM' header, then one vector per line)")
    parts = head.split(b"\n", 1)[0].split()
    if path.suffix == ".bin" or (len(parts) == 2 and b"\0" in head):
        return _read_binary(path, limit)
    side = read_sidecar(path)
    if side is not None:
        words, vecs = side
        return (words[:limit], vecs[:limit]) if limit else (words, vecs)
    words, vecs = _read_text(path, limit)
    if limit is None:
        with contextlib.suppress(OSError, WordmoreError):  # a read-only folder keeps parsing each time
            write_sidecar(path, words, vecs)
    return words, vecs


def _header(first: bytes, p: Path) -> tuple[int | None, int | None, bool]:
    """(count, dim, is_header) of a text file's first line."""
    parts = first.split()
    if len(parts) == 2 and all(x.lstrip(b"-").isdigit() for x in parts):
        n, dim = int(parts[0]), int(parts[1])
        if n < 0 or dim <= 0:
            raise WordmoreError(f"{p}:1: bad header {first.strip().decode(errors='replace')!r} (expected 'COUNT DIM')")
        return n, dim, True
    if len(parts) > 2:
        return None, None, False
    raise WordmoreError(f"{p}:1: bad header {first.strip()[:60].decode(errors='replace')!r} (expected 'COUNT DIM')")


def _read_text(p: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    blocks: list[np.ndarray] = []
    with open(p, "rb") as f:
        first = f.readline()
        n, dim, has_header = _header(first, p)
        if not has_header:
            f.seek(0)
        ln = 1 if has_header else 0
        while limit is None or len(words) < limit:
            chunk = f.readlines(1 << 22)
            if not chunk:
                break
            if limit is not None:
                chunk = chunk[:limit - len(words)]
            dim = _parse_chunk(chunk, ln, p, dim, words, blocks)
            ln += len(chunk)
    if n is not None and limit is None and n != len(words):
        raise WordmoreError(f"{p}:1: header says {n} words, file has {len(words)}")
    if not words:
        raise WordmoreError(f"{p}: no vectors")
    check_dups(words, p, 2 if has_header else 1)
    return words, np.concatenate(blocks)


def _parse_chunk(chunk: list[bytes], ln: int, p: Path, dim: int | None, words: list, blocks: list) -> int:
    """Append one block of lines (the first numbered ln + 1) to words and blocks; returns the width."""
    rests, ws = [], []
    for i, line in enumerate(chunk, ln + 1):
        line = line.rstrip()
        if not line:
            continue
        w, _, rest = line.partition(b" ")
        got = rest.count(b" ") + 1 if rest else 0
        if dim is None:
            dim = got
        if got != dim or dim == 0:
            raise WordmoreError(f"{p}:{i}: {got} values, expected {dim}")
        try:
            ws.append(w.decode("utf-8"))
        except UnicodeDecodeError:
            raise WordmoreError(f"{p}:{i}: the word is not UTF-8 (a binary word2vec file should end in .bin)") from None
        rests.append((i, rest))
    if not rests:
        return dim
    try:
        block = np.array(b" ".join(r for _, r in rests).split(b" "), dtype=np.float32).reshape(len(rests), dim)
    except ValueError:
        for i, r in rests:
            try:
                np.array(r.split(b" "), dtype=np.float32)
            except ValueError:
                raise WordmoreError(f"{p}:{i}: a value is not a number") from None
        raise
    bad = ~np.isfinite(block).all(1)  # (rows,)
    if bad.any():
        j = int(np.argmax(bad))
        raise WordmoreError(f"{p}:{rests[j][0]}: NaN or infinite value in the vector of {ws[j]!r}")
    words.extend(unvisible(w) for w in ws)
    blocks.append(block)
    return dim


def _read_binary(p: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    with open(p, "rb") as f:
        try:
            n, dim = (int(x) for x in f.readline().split())
        except ValueError:
            raise WordmoreError(f"{p}:1: bad header (expected 'COUNT DIM')") from None
        if n < 0 or dim <= 0:
            raise WordmoreError(f"{p}:1: bad header (expected 'COUNT DIM')")
        n = min(n, limit) if limit else n
        _check_size(p, n, dim, os.fstat(f.fileno()).st_size - f.tell())
        vecs = np.empty((n, dim), dtype=np.float32)  # (n, D)
        words: list[str] = []
        for i in range(n):
            raw = bytearray()
            while (ch := f.read(1)) not in (b" ", b""):
                if ch != b"\n" or raw:
                    raw += ch
            data = f.read(4 * dim)
            if not ch or len(data) < 4 * dim:
                raise WordmoreError(f"{p}: truncated at vector {i + 1} of {n}")
            try:
                words.append(unvisible(raw.decode("utf-8")))
            except UnicodeDecodeError:
                raise WordmoreError(f"{p}: vector {i + 1}: word is not UTF-8") from None
            vecs[i] = np.frombuffer(data, dtype="<f4")
    if not np.isfinite(vecs).all():
        bad = int(np.where(~np.isfinite(vecs).all(1))[0][0])
        raise WordmoreError(f"{p}: NaN or infinite value in the vector of {words[bad]!r}")
    check_dups(words, p, None)
    return words, vecs


def _check_size(p: Path, n: int, dim: int, left: int) -> None:
    """Refuse a binary header promising more rows than the bytes after it can hold (before allocating them)."""
    need = n * (4 * dim + 1)  # each row: a word (maybe empty), a space, dim float32s
    if need > left:
        raise WordmoreError(f"{p}:1: header says {n:,} vectors of {dim:,} floats (at least {need:,} bytes), "
                            f"but only {left:,} bytes follow it: the file is truncated or not word2vec binary")


def _read_kv(p: Path, limit: int | None) -> tuple[list[str], np.ndarray]:
    """gensim's KeyedVectors.save files: a pickle, so read only through gensim itself, and only if installed."""
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        raise WordmoreError(f"{p}: gensim .kv files are Python pickles that only gensim reads: install gensim, "
                            "or convert with kv.save_word2vec_format('x.bin', binary=True)") from None
    try:
        kv = KeyedVectors.load(str(p), mmap="r")
    except Exception as e:
        raise WordmoreError(f"{p}: gensim could not read it ({type(e).__name__}: {e})") from None
    words = list(kv.index_to_key)[:limit]
    return words, np.asarray(kv.vectors[:len(words)], dtype=np.float32)


def check_dups(words: list[str], p, first_line: int | None) -> None:
    """Raise on the first repeated word, naming where it is."""
    if len(set(words)) == len(words):
        return
    seen: dict[str, int] = {}
    for i, w in enumerate(words):
        if w in seen:
            where = f"{p}:{first_line + i}" if first_line else str(p)
            raise WordmoreError(f"{where}: duplicate word {w!r} (first at entry {seen[w] + 1})")
        seen[w] = i


# ---------------------------------------------------------------- the .npy sidecar

def sidecar_paths(p: Path) -> tuple[Path, Path]:
    """The memory-mapped vectors and the words beside a text vectors file."""
    return p.with_name(p.name + ".npy"), p.with_name(p.name + ".keys.json")


def _stamp(p: Path) -> dict:
    st = p.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_sidecar(p: Path):
    """(words, memory-mapped vectors) when the sidecar matches the file's size and mtime, else None."""
    npy, keys = sidecar_paths(p)
    try:
        meta = json.loads(keys.read_text(encoding="utf-8"))
        if meta.get("version") != SIDECAR_VERSION or meta.get("source") != _stamp(p):
            return None
        vecs = np.load(npy, mmap_mode="r", allow_pickle=False)
        words = meta["words"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if vecs.dtype != np.float32 or vecs.ndim != 2 or vecs.shape[0] != len(words) or not isinstance(words, list):
        return None
    return words, vecs


def write_sidecar(p: Path, words: list[str], vecs: np.ndarray) -> None:
    """Write the sidecar of p (written after p, stamped with p's size and mtime)."""
    npy, keys = sidecar_paths(p)
    with atomic_path(npy, "wb") as f:
        np.save(f, np.ascontiguousarray(vecs, dtype=np.float32), allow_pickle=False)
    meta = {"version": SIDECAR_VERSION, "source": _stamp(p), "words": words}
    with atomic_path(keys, "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)


# ---------------------------------------------------------------- writing

@contextlib.contextmanager
def os_errors(path):
    """OSError while writing path -> one-line WordmoreError (the previous file stays, atomic writes)."""
    try:
        yield
    except WordmoreError:
        raise
    except IsADirectoryError:
        raise WordmoreError(f"cannot write {path}: it is a folder (pass a file path)") from None
    except OSError as e:
        raise WordmoreError(f"cannot write {path}: {e.strerror or e}") from None


def check_target(path, force: bool, kind: str = "file") -> None:
    """Refuse a folder for a file, a file for a folder, a link or special file, and an existing file without force."""
    path = Path(path)
    if path.is_dir() and kind == "file":
        raise WordmoreError(f"cannot write {path}: it is a folder (pass a file path)")
    if path.exists() and not path.is_dir() and kind == "folder":
        raise WordmoreError(f"cannot write into {path}: it is a file (projector export writes two files into a folder)")
    if kind == "file":
        refuse_special(path)  # before the vectors are loaded
    if path.exists() and kind == "file" and not force:
        raise WordmoreError(f"{path} exists: pass --force to replace it")


def write_word2vec(path, words: list[str], vectors: np.ndarray, binary: bool = False, force: bool = True) -> None:
    """word2vec format as the C tool and gensim read it: 'COUNT DIM' header, then one word per row."""
    path = Path(path)
    check_target(path, force)
    fw = _file_words(words, path)
    with os_errors(path):
        with atomic_path(path, "wb") as f:
            f.write(f"{len(fw)} {vectors.shape[1]}\n".encode())
            for w, v in zip(fw, vectors):
                if binary:
                    f.write(w.encode("utf-8") + b" " + np.asarray(v, "<f4").tobytes() + b"\n")
                else:
                    f.write((w + " " + " ".join("%.9g" % x for x in v) + "\n").encode("utf-8"))
        if not binary:
            with contextlib.suppress(OSError):  # the sidecar only speeds loading up
                write_sidecar(path, list(words), vectors)


def write_projector(folder, words: list[str], vectors: np.ndarray, prefix: str = "",
                    force: bool = True) -> tuple[Path, Path]:
    """TensorBoard projector files: vectors.tsv and metadata.tsv (one column, so no header)."""
    folder = Path(folder)
    check_target(folder, force, "folder")
    vec_p, meta_p = folder / f"{prefix}vectors.tsv", folder / f"{prefix}metadata.tsv"
    for q in (vec_p, meta_p):
        check_target(q, force)
    with os_errors(folder):
        with atomic_path(vec_p, "w", encoding="utf-8", newline="\n") as f:
            for v in vectors:
                f.write("\t".join("%.6g" % x for x in v) + "\n")
        with atomic_path(meta_p, "w", encoding="utf-8", newline="\n") as f:
            for w in words:
                f.write((visible(w) or " ") + "\n")
    return vec_p, meta_p
