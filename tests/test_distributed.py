"""torchrun on this CPU with gloo: the same result as one process, stops agreed by all ranks, two local "nodes"."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from wordmore.checkpoint import load_checkpoint
from wordmore.cli import main

TINY = ["--n-embd", "4", "--n-hidden", "16", "--context", "3", "--batch-size", "32", "--eval-every", "20",
        "--eval-tokens", "500", "--ckpt-every", "10", "--warmup", "5"]
def _env() -> dict:
    """The environment at call time (so the session's private cache is in it), one thread per process."""
    return dict(os.environ, OMP_NUM_THREADS="1", WORDMORE_DIST_TIMEOUT="30")


def _common(words_file, steps):
    return ["--level", "word", "--dataset", str(words_file), "--max-steps", str(steps), "--min-count", "1",
            "--head", "softmax", "--precision", "fp32", "--dropout", "0.3", "--dropout-passes", "0",
            *TINY]  # every rank draws the global batch's word dropout and takes its rows


def _torchrun(args, nproc=2, launcher=("--standalone",)):
    return [sys.executable, "-m", "torch.distributed.run", *launcher, f"--nproc_per_node={nproc}",
            "-m", "wordmore", "train", *args]


def _same_as_single(single: Path, ddp: Path):
    a, b = (json.loads((d / "summary.json").read_text()) for d in (single, ddp))
    assert abs(a["val_loss"] - b["val_loss"]) < 1e-4  # same global batches, averaged gradients
    wa, wb = load_checkpoint(single / "ckpt.pt")["model"], load_checkpoint(ddp / "ckpt.pt")["model"]
    assert torch.allclose(wa["C.weight"], wb["C.weight"], atol=1e-4)


def test_two_processes_match_one(words_file, tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main(["train", *_common(words_file, 30), "--out", str(single)]) == 0
    r = subprocess.run(_torchrun([*_common(words_file, 30), "--out", str(ddp)]), env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    _same_as_single(single, ddp)


def test_a_time_budget_stops_every_rank_at_the_same_step(words_file, tmp_path):
    out = tmp_path / "b"
    r = subprocess.run(_torchrun([*_common(words_file, 10 ** 6), "--minutes", "0.05", "--out", str(out)]), env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]  # a rank that stopped alone would leave the other hanging
    s = json.loads((out / "summary.json").read_text())
    assert s["stopped"] == "time budget" and s["undertrained"] and 0 < s["step"] < 10 ** 6
    assert load_checkpoint(out / "ckpt.pt")["step"] == s["step"]


def _rank_pid(parent: int, rank: int, timeout: float = 120) -> int:
    """The pid of the torchrun worker with RANK=rank among parent's descendants."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                env = (d / "environ").read_bytes().split(b"\0")
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if f"RANK={rank}".encode() in env and b"WORDMORE_DIST_TIMEOUT=30" in env and int(stat[1]) == parent:
                return int(d.name)
        time.sleep(0.2)
    raise AssertionError(f"no rank {rank} under {parent}")


def _signal_rank_1(words_file, out: Path, sig, timeout: float):
    """Start a long two-rank run, send sig to rank 1 once a checkpoint exists; torchrun's (rc, stdout, stderr)."""
    p = subprocess.Popen(_torchrun([*_common(words_file, 10 ** 6), "--out", str(out)]), env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (out / "ckpt.pt").exists() and time.time() - t0 < 120:
            time.sleep(0.1)
        os.kill(_rank_pid(p.pid, 1), sig)
        out_text, err = p.communicate(timeout=timeout)  # not a hang
    finally:
        p.kill()
    return p.returncode, out_text, err


def test_sigterm_to_one_rank_stops_both_with_a_checkpoint_and_resume_continues(words_file, tmp_path):
    out = tmp_path / "s"
    _, out_text, err = _signal_rank_1(words_file, out, signal.SIGTERM, 120)
    assert "interrupted (signal" in out_text and "checkpoint saved" in out_text, err[-3000:]
    step = load_checkpoint(out / "ckpt.pt")["step"]
    assert step > 0 and step % 10 == 0  # the ranks agree every 10 steps
    r = subprocess.run(_torchrun([*_common(words_file, step + 20), "--out", str(out), "--resume"]), env=_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert load_checkpoint(out / "ckpt.pt")["step"] == step + 20


def test_two_nodes_on_localhost_each_with_its_own_cache_match_one_process(words_file, tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "nodes"
    assert main(["train", *_common(words_file, 30), "--out", str(single)]) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launcher = ("--nnodes", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "wm")
    procs = [subprocess.Popen(_torchrun([*_common(words_file, 30), "--out", str(ddp)], 1, launcher),
                              env=dict(_env(), WORDMORE_CACHE=str(tmp_path / f"cache{n}")), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs[0][-2000:] + errs[1][-2000:]
    assert all(any((tmp_path / f"cache{n}").rglob("train.bin")) for n in range(2))  # each node encoded its own
    _same_as_single(single, ddp)


def test_a_killed_rank_makes_the_other_exit_with_one_line(words_file, tmp_path):
    out = tmp_path / "k"
    rc, _, err = _signal_rank_1(words_file, out, signal.SIGKILL, 90)  # well within the 30 s collective timeout
    assert rc != 0
    assert "wordmore: error: rank 0: another process of this run stopped answering" in err, err[-3000:]
    assert load_checkpoint(out / "ckpt.pt")["step"] > 0  # the last checkpoint is intact
