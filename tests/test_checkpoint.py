import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch

from wordmore.checkpoint import RunLock, load_checkpoint
from wordmore.errors import WordmoreError


def test_newer_checkpoint_format_is_refused(tmp_path):
    torch.save({"format": 99, "model": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(WordmoreError, match="newer"):
        load_checkpoint(tmp_path / "ckpt.pt")


# ------------------------------------------------------------ the run lock

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _holder(folder, body: str):
    """A child process that runs body (with RunLock imported and `lock` its lock), prints ready and sleeps."""
    code = (f"import sys, time, fcntl, os\nfrom wordmore.checkpoint import RunLock\nlock = RunLock({str(folder)!r})\n"
            f"{body}\nprint('ready', flush=True)\ntime.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_lock_is_released_and_a_dead_owners_lock_is_taken_over(tmp_path):
    p = _holder(tmp_path, "lock.acquire()")
    with pytest.raises(WordmoreError, match="in use by a live run"):
        RunLock(tmp_path).acquire()
    p.send_signal(signal.SIGKILL)  # dies holding it: the file stays, the kernel drops the lease
    p.wait()
    assert (tmp_path / ".lock").exists()
    lock = RunLock(tmp_path).acquire()
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / ".lock").exists()


def test_a_held_lock_is_never_taken_whatever_pid_it_names(tmp_path):
    # another PID namespace (a container on this kernel): its pid means nothing here, its lease does
    p = _holder(tmp_path, f"fd = os.open({str(tmp_path / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
                          f"fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, b'{_dead_pid()}\\n')")
    try:
        with pytest.raises(WordmoreError, match="in use by a live run"):
            RunLock(tmp_path).acquire()
        with pytest.raises(WordmoreError, match="in use by a live run"):
            RunLock(tmp_path, overwrite=True).acquire()
    finally:
        p.kill()
        p.wait()


def _race_worker(folder, rounds, barrier, q):
    won = []
    for rnd in range(rounds):
        barrier.wait()  # the parent has left a stale lock
        lock = RunLock(folder)
        try:
            lock.acquire()
            won.append(rnd)
        except WordmoreError:
            pass
        barrier.wait()  # every racer has tried while the winner still holds it
        lock.release()
        barrier.wait()
    q.put(won)


def test_stale_lock_takeover_race_has_one_winner(tmp_path):
    ctx, n, rounds = mp.get_context("fork"), 4, 300
    barrier, q = ctx.Barrier(n + 1), ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(tmp_path, rounds, barrier, q)) for _ in range(n)]
    for p in procs:
        p.start()
    stale = f"{_dead_pid()}\n"
    for _ in range(rounds):
        (tmp_path / ".lock").write_text(stale)
        for _ in range(3):
            barrier.wait(timeout=30)
    wins = [r for _ in procs for r in q.get(timeout=30)]
    for p in procs:
        p.join()
    assert sorted(wins) == list(range(rounds))  # each round exactly one winner


def test_another_machines_lock_is_never_taken_a_rebooted_one_is(tmp_path):
    me = socket.gethostname()
    (tmp_path / ".lock").write_text(json.dumps({"pid": os.getppid(), "host": me + "-other", "boot": "b-other"}))
    with pytest.raises(WordmoreError, match=r"another machine \(.*-other\).*remove"):
        RunLock(tmp_path).acquire()
    with pytest.raises(WordmoreError, match="another machine"):
        RunLock(tmp_path, overwrite=True).acquire()
    (tmp_path / ".lock").write_text(json.dumps({"pid": os.getppid(), "host": me, "boot": "before-reboot"}))
    RunLock(tmp_path).acquire().release()


def test_an_older_lock_naming_a_live_pid(tmp_path):
    other = subprocess.Popen(["sleep", "60"])  # alive, not wordmore
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "wordmore"])
    try:
        (tmp_path / ".lock").write_text(f"{other.pid}\n")
        with pytest.raises(WordmoreError, match="not a wordmore run; pass --overwrite"):
            RunLock(tmp_path).acquire()
        RunLock(tmp_path, overwrite=True).acquire().release()
        (tmp_path / ".lock").write_text(f"{run.pid}\n")
        for overwrite in (False, True):
            with pytest.raises(WordmoreError, match="in use by a live run"):
                RunLock(tmp_path, overwrite=overwrite).acquire()
    finally:
        for p in (other, run):
            p.kill()
            p.wait()
