"""End-to-end guarantees of a run's stop paths (README: What is guaranteed), each in its own subprocess."""
import signal
import subprocess
import sys
import time

import pytest
import torch

from wordmore.checkpoint import load_checkpoint

TINY = ["--n-embd", "4", "--n-hidden", "16", "--context", "3", "--batch-size", "32", "--warmup", "5",
        "--eval-every", "1000", "--eval-tokens", "200"]

# train.py's side of these guarantees (the setup under StopSignals(at_once=True), the draw under
# stopper.interruptible()) is the lead's to apply: until then these tests fail, and strictly so

# a wordmore run whose setup or draw is slowed where a test wants a signal to land
RUNNER = """
import os, signal, sys, time
import wordmore.batch as D
import wordmore.train as T
from wordmore.cli import main
where, args = sys.argv[1], sys.argv[2:]
if where.startswith("setup"):
    real_prepare = T.prepare
    def prepare(*a, **k):
        print("ready", file=sys.stderr, flush=True)
        time.sleep(60)
        return real_prepare(*a, **k)
    T.prepare = prepare
elif where.startswith("draw"):
    hang_at, calls, real_draw = int(where[4:]), [0], D.Batcher.sample_positions
    def sample_positions(self, *a, **k):
        pos = real_draw(self, *a, **k)  # the generator moves, as a draw that never ends would move it
        calls[0] += 1
        if calls[0] == hang_at:
            print("ready", file=sys.stderr, flush=True)
            n = 0
            while True:  # a draw that never ends, at 100 % CPU
                n += 1
        return pos
    D.Batcher.sample_positions = sample_positions
sys.exit(main(args))
"""


def _cmd(tmp_path, names_file, out, where, steps, extra=()):
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    return [sys.executable, str(runner), where, "train", "--level", "char", "--dataset", str(names_file),
            "--out", str(out), "--max-steps", str(steps), *TINY, *extra]


def _start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    while line and not line.rstrip().endswith("ready"):  # (after a progress bar's \r, on one line)
        line = p.stderr.readline()
    assert line, "the run ended before it was ready"
    return p


def _stop(p, sig, timeout=15):
    p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"{signal.Signals(sig).name} did not stop the run within {timeout}s")
    return p.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sighup_and_sigterm_in_training_save_a_checkpoint(names_file, tmp_path, sig):
    out = tmp_path / "r"
    p = subprocess.Popen(_cmd(tmp_path, names_file, out, "none", 10 ** 7, ["--ckpt-every", "100000"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / "config.json").exists() and time.time() - t0 < 120:
        time.sleep(0.05)
    time.sleep(0.5)
    rc, o, err = _stop(p, sig)
    assert rc == 130 and "checkpoint saved" in o + err, err[-2000:]
    assert load_checkpoint(out / "ckpt.pt")["step"] > 0 and not (out / ".lock").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_setup_exits_130_with_one_line_and_no_lock(names_file, tmp_path, sig):
    out = tmp_path / "r"
    p = _start(_cmd(tmp_path, names_file, out, "setup", 100))
    assert (out / ".lock").exists()  # taken before the data is read
    rc, o, err = _stop(p, sig)
    assert rc == 130, err[-2000:]
    assert err.strip().splitlines() == ["wordmore: interrupted"] and not o.strip()
    assert not (out / ".lock").exists() and not (out / "ckpt.pt").exists()


def test_a_signal_during_a_long_draw_stops_with_the_last_steps_checkpoint(names_file, tmp_path):
    part, full = tmp_path / "part", tmp_path / "full"
    p = _start(_cmd(tmp_path, names_file, part, "draw7", 12))
    rc, o, err = _stop(p, signal.SIGTERM)
    assert rc == 130 and "interrupted (signal SIGTERM) at step 6" in o + err, err[-2000:]
    assert load_checkpoint(part / "ckpt.pt")["step"] == 6 and not (part / ".lock").exists()
    # the checkpoint is the state before the draw, generator included: a resume ends where a run never stopped ends
    for out, extra in ((part, ["--resume"]), (full, [])):
        r = subprocess.run(_cmd(tmp_path, names_file, out, "none", 12, extra), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
    a, b = load_checkpoint(full / "ckpt.pt")["model"], load_checkpoint(part / "ckpt.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
