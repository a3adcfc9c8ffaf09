import os
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


def test_lock_refuses_live_owner_and_recovers_stale(tmp_path):
    lock = RunLock(tmp_path)
    (tmp_path / ".lock").write_text(f"{os.getppid()}\n")  # a live process
    with pytest.raises(WordmoreError, match="in use by a live run"):
        lock.acquire()
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    (tmp_path / ".lock").write_text(f"{p.pid}\n")  # a dead one
    lock.acquire()
    assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    lock.release()
    assert not (tmp_path / ".lock").exists()
