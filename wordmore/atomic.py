"""Atomic file writes: write to a temporary file beside the target, fsync, rename."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import WordmoreError


def refuse_special(path: Path) -> None:
    """A link, pipe or device at path would be replaced by the renamed file (as root even /dev/null): refuse it."""
    if path.is_symlink() or path.exists() and not path.is_file() and not path.is_dir():
        raise WordmoreError(f"cannot write {path}: it is a link, pipe or device, which the file written in its "
                            f"place would replace (give a plain file path)")


@contextlib.contextmanager
def atomic_path(path, mode: str = "wb", **kw):
    """Open a temporary file for writing; on success it replaces `path`, on error it vanishes."""
    path = Path(path)
    refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # name the file asked for, not the temporary one
        raise type(e)(e.errno, e.strerror, str(path)) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; output is readable like other tools' (0644)
        with os.fdopen(fd, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
