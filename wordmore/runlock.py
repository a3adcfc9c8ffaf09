"""The one-run-per-directory lock: an flock lease on .lock, held for the run's life, naming its owner."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from pathlib import Path

from .errors import WordmoreError


def boot_id() -> str:
    """This kernel's boot id ('' where there is none): two processes with one boot id share one kernel."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def owner_info() -> dict:
    """What the lock file says about its holder."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot": boot_id()}


class RunLock:
    """An exclusive flock on <folder>/.lock for the run's life; the kernel drops it when the owner dies, so a
    lock nobody holds is stale and is taken over in place (no unlink race). A lock written on another machine
    (host and boot id differ: a shared filesystem where flock may not reach) is never taken."""

    def __init__(self, folder: Path, overwrite: bool = False):
        self.path = Path(folder) / ".lock"
        self.overwrite = overwrite
        self.held = False
        self._fd: int | None = None
        self._pid = 0
        self.made = False  # the folder was made for this run: removed on release if the run left it empty

    def acquire(self) -> "RunLock":
        """Take the lock or raise WordmoreError naming the live owner."""
        self.made = not self.path.parent.exists()
        for _ in range(50):  # retried only when the file (or its new folder) went between open and flock
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:  # another run's release removed the folder it had made
                continue
            try:
                if self._lease(fd):
                    self._take(fd)
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise WordmoreError(f"could not lock {self.path}: it keeps being replaced")

    def _lease(self, fd: int) -> bool:
        """flock the open file; False when the path no longer names it (a releasing owner unlinked it)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise WordmoreError(f"cannot lock {self.path}: the filesystem refuses file locks "
                                    f"({os.strerror(e.errno)}); choose an --out on a local disk") from None
            raise WordmoreError(f"run directory {self.path.parent} is in use by a live run"
                                f"{_describe(_read(fd))}; wait for it or choose another --out") from None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def _take(self, fd: int) -> None:
        """With the lease held: refuse a lock that the lease cannot vouch for, else write ours in place."""
        why = self._refusal(_read(fd))
        if why:
            raise WordmoreError(why)
        data = (json.dumps(owner_info()) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._fd, self._pid, self.held = fd, os.getpid(), True

    def _refusal(self, old: dict | None) -> str | None:
        """Why a lock nobody holds a lease on must still not be taken, or None."""
        if not old or not old.get("pid"):
            return None  # empty (an owner that died while starting) or unreadable: nobody's
        me, where = owner_info(), f"run directory {self.path.parent}"
        if old.get("boot"):
            if old["boot"] == me["boot"] or old.get("host") == me["host"]:
                return None  # this kernel's flock vouches for it, or the machine has rebooted since
            return (f"{where} is locked by pid {old['pid']} on another machine ({old.get('host') or '?'}), "
                    f"which this one cannot check; if that run has ended, remove {self.path}")
        pid = old["pid"]  # an older wordmore's lock: a pid alone
        if pid == os.getpid() or not _alive(pid):
            return None
        if _is_wordmore(pid):
            return f"{where} is in use by a live run (pid {pid}); wait for it or choose another --out"
        if self.overwrite:
            return None
        return (f"{where} has a lock naming pid {pid}, a live process that is not a wordmore run; "
                f"pass --overwrite to take it, or remove {self.path}")

    def release(self) -> None:
        """Remove the lock file and drop the lease, if this process holds them; and the folder, if acquire made it
        and the run wrote nothing there (a data error before the first file)."""
        if self.held and self._pid == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # while the lease is held: a waiting opener then sees a new file
            os.close(self._fd)
            if self.made:
                with contextlib.suppress(OSError):
                    self.path.parent.rmdir()  # only when empty
        self.held, self._fd = False, None


def _read(fd: int) -> dict | None:
    """The lock file's owner record: our JSON, or an older wordmore's bare pid."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if text.isdigit():
        return {"pid": int(text)} if int(text) > 0 else None
    try:
        d = json.loads(text)
    except ValueError:
        return None
    pid = d.get("pid") if isinstance(d, dict) else None
    ok = isinstance(pid, int) and not isinstance(pid, bool) and pid > 0
    return {"pid": d["pid"], "host": str(d.get("host", "")), "boot": str(d.get("boot", ""))} if ok else None


def _describe(old: dict | None) -> str:
    if not old:
        return ""
    host = old.get("host")
    return f" (pid {old['pid']}{f' on {host}' if host and host != socket.gethostname() else ''})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:  # a zombie child counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _is_wordmore(pid: int) -> bool:
    """Whether a live process is a wordmore run, by its command line (True when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return True
    return any(Path(a.rstrip("/")).name in ("wordmore", "wordmore.cli", "wordmore.__main__") for a in argv if a)
