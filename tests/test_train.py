import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from wordmore.cli import main
from wordmore.checkpoint import load_checkpoint, load_model
from wordmore.config import RunConfig, TrainConfig, dropout_at, resolve_config
from wordmore.corpus import prepare
from wordmore.errors import WordmoreError
from wordmore.train import lr_at, train

TINY = ["--n-embd", "4", "--n-hidden", "16", "--context", "3", "--batch-size", "32", "--eval-every", "20",
        "--eval-tokens", "500", "--ckpt-every", "10", "--warmup", "5"]


def run(args):
    return main(["train", *args])


def test_char_end_to_end_through_main(names_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["--level", "char", "--dataset", str(names_file), "--out", str(out), "--max-steps", "300",
                "--lr", "1e-2", *TINY[:-6]]) == 0
    for f in ("ckpt.pt", "config.json", "vocab.json", "metrics.jsonl", "embeddings.vec", "summary.json"):
        assert (out / f).exists(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 300 and summary["val_loss"] < 3.0  # learnt something: uniform is ln(27+) = 3.3
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["level"] == "char" and cfg["model"]["n_hidden"] == 16
    state = load_checkpoint(out / "ckpt.pt")
    assert state["step"] == 300 and state["vocab"]["itos"][0] == "."
    assert "config:" in capsys.readouterr().out


def test_same_seed_same_losses(names_file, tmp_path):
    losses = []
    for name in ("a", "b"):
        out = tmp_path / name
        run(["--level", "char", "--dataset", str(names_file), "--out", str(out), "--max-steps", "40", *TINY])
        losses.append([json.loads(l).get("val_loss") for l in (out / "metrics.jsonl").read_text().splitlines()])
    assert losses[0] == losses[1]


@pytest.mark.parametrize("level,extra", [("char", []), ("word", ["--head", "neg", "--negatives", "8"]),
                                         ("word", ["--head", "adaptive", "--cutoffs", "10"]),
                                         ("word", ["--head", "sampled", "--negatives", "8", "--direct"]),
                                         ("word", ["--dropout", "0.4", "--dropout-passes", "0.3"])])
def test_resume_is_exact(names_file, words_file, tmp_path, level, extra):
    data = str(names_file if level == "char" else words_file)
    common = ["--level", level, "--dataset", data, "--max-steps", "40", "--min-count", "1", *TINY, *extra]
    full, part = tmp_path / "full", tmp_path / "part"
    assert run([*common, "--out", str(full)]) == 0
    assert run([*common, "--out", str(part), "--stop-after", "17"]) == 0
    assert load_checkpoint(part / "ckpt.pt")["step"] == 17
    assert run([*common, "--out", str(part), "--resume"]) == 0
    a, b = load_checkpoint(full / "ckpt.pt")["model"], load_checkpoint(part / "ckpt.pt")["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_is_exact_with_the_text_thinned_afresh_between(words_file, tmp_path, capsys):
    common = ["--level", "word", "--dataset", str(words_file), "--max-steps", "60", "--min-count", "1", *TINY,
              "--head", "sampled", "--negatives", "8", "--subsample", "1e-4", "--subsample-context", "1e-4"]
    full, part = tmp_path / "full", tmp_path / "part"
    assert run([*common, "--out", str(full)]) == 0
    period = int(re.search(r"thinned afresh every (\d+) steps", capsys.readouterr().out).group(1))
    assert 2 <= period <= 25  # so the stop at 30 falls after a fresh thinning, and another comes before 60
    assert run([*common, "--out", str(part), "--stop-after", "30"]) == 0
    assert run([*common, "--out", str(part), "--resume", "--eval-every", "7", "--ckpt-every", "9", "--workers", "2"]) == 0
    steps = [json.loads(l)["step"] for l in (part / "metrics.jsonl").read_text().splitlines() if '"val_loss"' in l]
    assert list(dict.fromkeys(s for s in steps if s > 30)) == [35, 42, 49, 56, 60]  # the new --eval-every, and the weights the same:
    a, b = load_checkpoint(full / "ckpt.pt")["model"], load_checkpoint(part / "ckpt.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_refuses_changed_flags_and_a_finished_plan_and_counts_all_the_time(names_file, tmp_path, capsys):
    common = ["--level", "char", "--dataset", str(names_file), "--max-steps", "20", *TINY]
    out = tmp_path / "r"
    assert run([*common, "--out", str(out), "--stop-after", "15"]) == 0
    before = (out / "ckpt.pt").read_bytes()
    assert run([*common, "--out", str(out), "--resume", "--n-hidden", "8", "--lr", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "--lr 0.5 (the run has 0.003), --n-hidden 8 (the run has 16) differ" in err, err
    assert run([*common, "--out", str(out), "--resume", "--overwrite"]) == 1
    assert "give one of them" in capsys.readouterr().err
    assert (out / "ckpt.pt").read_bytes() == before  # refused before anything was written
    elapsed = load_checkpoint(out / "ckpt.pt")["elapsed"]
    assert run([*common, "--out", str(out), "--resume", "--max-steps", "20"]) == 0  # the length may change
    summary = (out / "summary.json").read_text()
    assert json.loads(summary)["train_seconds"] >= elapsed  # the whole run's time, not the resumed part's
    assert run([*common, "--out", str(out), "--resume", "--max-steps", "12"]) == 1
    assert "at step 20 of a 12-step plan: nothing to do" in capsys.readouterr().err
    assert run([*common, "--out", str(out), "--resume", "--max-steps", "30", "--stop-after", "20"]) == 1
    assert "is at step 20, already at --stop-after 20: nothing to do" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == summary


def test_bad_runs_are_clear_errors(names_file, words_file, tmp_path, capsys):
    out = tmp_path / "r"
    assert run(["--level", "char", "--dataset", str(names_file), "--out", str(out), "--resume"]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    assert run(["--level", "char", "--dataset", str(names_file), "--out", str(out), "--max-steps", "5", *TINY]) == 0
    assert run(["--level", "word", "--dataset", str(words_file), "--out", str(out), "--resume"]) == 1
    assert "holds a char-level model" in capsys.readouterr().err
    assert run(["--level", "char", "--dataset", str(names_file), "--out", str(out)]) == 1
    assert "--resume" in capsys.readouterr().err
    (out / "ckpt.pt").write_bytes((out / "ckpt.pt").read_bytes()[:100])
    assert run(["--level", "char", "--dataset", str(names_file), "--out", str(out), "--resume"]) == 1
    assert "corrupt or truncated" in capsys.readouterr().err
    assert run(["--level", "byte"]) == 2
    assert "invalid choice: 'byte'" in capsys.readouterr().err
    assert run(["--level", "char", "--dataset", str(tmp_path / "missing.txt")]) == 1
    assert "no such file" in capsys.readouterr().err



def test_corpus_smaller_than_the_window(tmp_path, capsys):
    p = tmp_path / "tiny.txt"
    p.write_text("ab\ncd\nef\n")
    assert run(["--level", "char", "--dataset", str(p), "--context", "8", "--out", str(tmp_path / "r")]) == 1
    assert "smaller than the context window" in capsys.readouterr().err


def test_parser_rejects_out_of_range(capsys):
    for bad in (["--context", "0"], ["--n-embd", "-3"], ["--lr", "0"], ["--batch-size", "x"], ["--val-frac", "1.5"]):
        assert run(["--level", "char", *bad]) == 2
        err = capsys.readouterr().err
        assert "must be" in err or "not an integer" in err, err


def test_nan_loss_stops_with_step_and_keeps_checkpoint(names_file, tmp_path, monkeypatch, capsys):
    import wordmore.model as M
    orig = M.ContextMLP.forward
    calls = {"n": 0}
    def forward(self, idx, targets=None, neg=None, drop=None):
        logits, loss = orig(self, idx, targets, neg, drop)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 25:
                loss = loss * float("nan")
        return logits, loss
    monkeypatch.setattr(M.ContextMLP, "forward", forward)
    out = tmp_path / "r"
    assert run(["--level", "char", "--dataset", str(names_file), "--out", str(out), "--max-steps", "50", *TINY]) == 1
    err = capsys.readouterr().err
    assert "at step 25" in err
    assert load_checkpoint(out / "ckpt.pt")["step"] == 20  # the last good one



def test_lr_schedule_warms_up_then_decays():
    tc = TrainConfig(lr=1.0, warmup=10, min_lr_frac=0.1)
    assert lr_at(tc, 0, 0.0) == pytest.approx(0.1)
    assert lr_at(tc, 10, 0.0) == pytest.approx(1.0)
    assert lr_at(tc, 50, 0.5) == pytest.approx(0.55)
    assert lr_at(tc, 99, 1.0) == pytest.approx(0.1)





def test_resume_on_another_device_layout_keeps_weights_and_restarts_moments(words_file, tmp_path, capsys):
    out = tmp_path / "r"
    common = ["--level", "word", "--dataset", str(words_file), "--min-count", "1", "--out", str(out), *TINY,
              "--head", "sampled", "--negatives", "8"]
    assert run([*common, "--max-steps", "12"]) == 0
    state = load_checkpoint(out / "ckpt.pt")
    assert set(state["optim"]) == {"dense", "sparse"}  # the CPU layout: SparseAdam for the big tables
    state["optim"] = {"dense": state["optim"]["dense"]}  # as a GPU run (dense AdamW only) writes it
    torch.save(state, out / "ckpt.pt")
    assert run([*common, "--max-steps", "20", "--resume"]) == 0
    assert "Adam moments start afresh" in capsys.readouterr().out
    assert load_checkpoint(out / "ckpt.pt")["step"] == 20


def _tiny_word_cfg(enc, out, **train):
    return resolve_config("word", {
        "train": {"out": str(out), "max_steps": 40, "batch_size": 128, "eval_every": 10 ** 9, "minutes": 0.0,
                  "warmup": 5, "ckpt_every": 20, **train},
        "data": {"dataset": str(enc)}, "model": {"n_embd": 8, "n_hidden": 32, "negatives": 16}})


def test_training_from_an_encoded_folder_needs_no_text(encoded_corpus, tmp_path, monkeypatch):
    import wordmore.source as S
    monkeypatch.setattr(S, "load_texts", lambda *a, **k: pytest.fail("must not read text"))
    summary = train(_tiny_word_cfg(encoded_corpus, tmp_path / "r", device="cpu"), log=lambda *a, **k: None)
    assert summary["step"] == 40 and summary["val_loss"] < math.log(17)  # below chance over 1 + 16 candidates
    assert summary["cuda_graph"] is False and summary["steady_tokens_per_s"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision,thin", [("fp32", False), ("bf16", False), ("fp32", True)])
def test_cuda_graph_steps_match_eager_steps(encoded_corpus, tmp_path, precision, thin):
    res = {}
    extra = {"subsample": 1e-3, "subsample_context": 1e-3} if thin else {}  # the graph reads the re-thinned text
    for graph in (False, True):
        out = tmp_path / f"{precision}-{graph}"
        s = train(_tiny_word_cfg(encoded_corpus, out, device="cuda", cuda_graph=graph, precision=precision, **extra),
                  log=lambda *a, **k: None)
        res[graph] = (s, load_checkpoint(out / "ckpt.pt")["model"])
    assert res[True][0]["cuda_graph"] is True and res[False][0]["cuda_graph"] is False
    assert res[True][0]["val_loss"] == pytest.approx(res[False][0]["val_loss"], abs=1e-3 if precision == "fp32" else 2e-2)
    for k, a in res[False][1].items():
        torch.testing.assert_close(res[True][1][k], a, rtol=1e-3, atol=1e-4 if precision == "fp32" else 5e-3)


def _train_cmd(names_file, out, steps, extra=()):
    return [sys.executable, "-m", "wordmore", "train", "--level", "char", "--dataset", str(names_file),
            "--out", str(out), "--max-steps", str(steps), *TINY[:-6], "--ckpt-every", "5", "--eval-every", "1000",
            *extra]


def test_sigkill_never_leaves_a_half_written_checkpoint_and_resume_finishes(names_file, tmp_path):
    out = tmp_path / "r"
    env = dict(os.environ)
    p = subprocess.Popen(_train_cmd(names_file, out, 200000), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not (out / "ckpt.pt").exists() and time.time() - t0 < 120:
        time.sleep(0.05)
    delay = random.uniform(0.05, 1.5)  # a random moment while checkpoints are being written
    print(f"SIGKILL after {delay:.2f}s")
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    state = load_checkpoint(out / "ckpt.pt")  # loadable, never half-written
    assert state["step"] > 0 and state["step"] % 5 == 0
    r = subprocess.run(_train_cmd(names_file, out, state["step"] + 20, ["--resume"]), env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_checkpoint(out / "ckpt.pt")["step"] == state["step"] + 20


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_sigterm_save_a_checkpoint(names_file, tmp_path, sig):
    out = tmp_path / "r"
    p = subprocess.Popen(_train_cmd(names_file, out, 10 ** 7, ["--ckpt-every", "100000"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / "config.json").exists() and time.time() - t0 < 120:
        time.sleep(0.05)
    time.sleep(1.0)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert "checkpoint saved" in err + _
    assert load_checkpoint(out / "ckpt.pt")["step"] > 0


def test_second_run_on_a_live_run_directory_is_refused(names_file, tmp_path):
    out = tmp_path / "r"
    p = subprocess.Popen(_train_cmd(names_file, out, 10 ** 7), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not (out / ".lock").exists() and time.time() - t0 < 120:
            time.sleep(0.05)
        r = subprocess.run(_train_cmd(names_file, out, 10, ["--overwrite"]), capture_output=True, text=True)
        assert r.returncode == 1 and "in use by a live run" in r.stderr
    finally:
        p.kill()
        p.wait()


def test_train_returns_its_summary_and_leaves_the_royal_table_to_the_cli(words_file, tmp_path, capsys):
    cfg = resolve_config("word", {"train": {"out": str(tmp_path / "r"), "max_steps": 12, "batch_size": 32,
                                            "minutes": 0.0, "eval_every": 6, "eval_tokens": 200, "warmup": 2},
                                  "data": {"dataset": str(words_file), "min_count": 1},
                                  "model": {"n_embd": 8, "n_hidden": 8, "negatives": 8}})
    said = []
    summary = train(cfg, log=said.append)
    assert summary["step"] == 12 and summary["stopped"] == "plan done" and summary["val_loss"] > 0
    assert not any("Are king" in s for s in said) and "Are king" not in capsys.readouterr().out
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["step"] for l in lines] == [6, 12, 12]  # two evaluations, then the final record


def test_epochs_set_the_steps_and_a_budget_stop_is_flagged_undertrained(words_file, tmp_path, capsys):
    common = ["--level", "word", "--dataset", str(words_file), "--min-count", "1", *TINY, "--head", "sampled",
              "--negatives", "8"]
    assert run([*common, "--out", str(tmp_path / "e"), "--epochs", "0.5"]) == 0
    s = json.loads((tmp_path / "e" / "summary.json").read_text())
    cfg = resolve_config("word", {"data": {"dataset": str(words_file), "min_count": 1}})
    n_train = prepare(cfg.data, cfg.tokenizer, log=lambda *a: None).meta["tokens"]["train"]
    capsys.readouterr()
    assert s["planned_steps"] == s["step"] == math.ceil(0.5 * n_train / 32) and "undertrained" not in s
    assert run([*common, "--out", str(tmp_path / "b"), "--max-steps", "100000", "--minutes", "0.002"]) == 0
    s = json.loads((tmp_path / "b" / "summary.json").read_text())
    out = capsys.readouterr().out.strip().splitlines()
    assert s["stopped"] == "time budget" and s["undertrained"] is True and s["step"] < 100000
    assert out[-1] == f"undertrained: stopped at {s['step']:,} of 100,000 steps (time budget); the vectors are from " \
        "a model that did not finish its plan: continue with --resume, or give it more --minutes"
    assert out[-2].startswith("  king - man + woman")  # the royal table, then the warning on the last line


def test_word_dropout_follows_the_passes_planned_or_allowed_by_the_budget(words_file, tmp_path, capsys):
    common = ["--level", "word", "--dataset", str(words_file), "--min-count", "1", *TINY, "--head", "sampled",
              "--negatives", "8", "--dropout", "0.3", "--dropout-passes", "1000"]
    assert run([*common, "--out", str(tmp_path / "e"), "--epochs", "0.2"]) == 0  # no budget: the plan's passes
    t = json.loads((tmp_path / "e" / "config.json").read_text())["train"]
    steps = json.loads((tmp_path / "e" / "summary.json").read_text())["planned_steps"]
    assert 0.2 <= t["expected_passes"] < 0.2 + 0.2 / steps  # 0.2 passes, rounded up to whole steps
    assert "word dropout" not in capsys.readouterr().out
    assert run([*common, "--out", str(tmp_path / "b"), "--max-steps", "60", "--minutes", "5"]) == 0
    cfg = RunConfig.from_dict(load_checkpoint(tmp_path / "b" / "ckpt.pt")["config"])
    assert 0 < cfg.train.expected_passes <= 60 * 32 / 100  # decided after the warmup; the plan caps it
    assert dropout_at(cfg) == pytest.approx(0.3 * cfg.train.expected_passes / 1000)
    assert f"word dropout {dropout_at(cfg):.3f}: the budget allows" in capsys.readouterr().out


def test_a_run_evaluates_twenty_times_unless_told(names_file, tmp_path):
    args = ["--level", "char", "--dataset", str(names_file), "--max-steps", "60", "--n-embd", "4", "--n-hidden", "8",
            "--batch-size", "16", "--eval-tokens", "100"]
    assert run([*args, "--out", str(tmp_path / "a")]) == 0
    steps = [json.loads(l)["step"] for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(3, 61, 3)) + [60]  # every 60 // 20 steps, then the final record
    assert run([*args, "--out", str(tmp_path / "b"), "--eval-every", "25"]) == 0
    steps = [json.loads(l)["step"] for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [25, 50, 60, 60]


def test_a_word_run_writes_its_two_tables_joined(words_file, tmp_path):
    from wordmore.embeddings import Embeddings, join_tables
    cfg = resolve_config("word", {"train": {"out": str(tmp_path / "r"), "max_steps": 8, "batch_size": 32,
                                            "minutes": 0.0, "eval_tokens": 200, "warmup": 2},
                                  "data": {"dataset": str(words_file), "min_count": 1},
                                  "model": {"n_embd": 8, "n_hidden": 8, "negatives": 8}})
    train(cfg, log=lambda *a: None)
    model = load_model(tmp_path / "r")[0]
    C, out = (t.detach().float().numpy() for t in model.word_tables())  # (V, 8) each
    M = model.window_map().detach().numpy()  # (8, 8)
    emb = Embeddings.load(tmp_path / "r")
    assert emb.vectors.shape == (C.shape[0], 16)
    assert cfg.model.cross == 0.2  # the preset's: the two tables' cross terms weigh in
    assert abs(emb.vectors - join_tables([C @ M, out], 0.2)).max() < 1e-5  # the .vec keeps 6 decimals
    assert abs(emb.vectors - join_tables([C @ M, out])).max() > 1e-3  # not the plain join
    assert abs(emb.vectors - join_tables([C, out], 0.2)).max() > 1e-3  # C itself is not what was written


def test_flags_that_pass_their_limits_but_not_each_other_are_one_line(names_file, tmp_path, capsys):
    from wordmore.runtime import Runtime
    common = ["--level", "word", "--dataset", str(names_file), "--max-steps", "2", "--out", str(tmp_path / "r")]
    assert run([*common, "--head", "adaptive", "--cutoffs", "10", "5"]) == 1
    assert "--cutoffs must rise" in capsys.readouterr().err
    assert run([*common, "--val-frac", "0.6", "--test-frac", "0.5"]) == 1
    assert "add up to 1.1" in capsys.readouterr().err
    rt = Runtime(torch.device("cpu"), "fp32")
    e = rt.explain(RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: "
                                "you tried to allocate 137438953472 bytes."), tmp_path)
    assert isinstance(e, WordmoreError) and "out of memory on cpu" in str(e) and "--n-hidden" in str(e)
    assert rt.explain(ValueError("x"), tmp_path).__class__ is ValueError  # others pass through unchanged
    rank1, old = Runtime(torch.device("cpu"), "fp32", rank=1, world=2), signal.getsignal(signal.SIGTERM)
    try:  # a peer gone: the line must get out before torchrun's SIGTERM, and the broken group is not left
        e = rank1.explain(RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer"), tmp_path)
        assert "rank 1: another process of this run stopped answering" in str(e)
        assert rank1.broken and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, old)


def test_a_device_this_machine_lacks_is_one_clear_error():
    from wordmore.errors import WordmoreError
    from wordmore.runtime import pick_device
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(WordmoreError, match="unknown device 'tpu7'"):
        pick_device("tpu7")
    if not torch.cuda.is_available():
        with pytest.raises(WordmoreError, match="no CUDA GPU is available"):
            pick_device("cuda")
    if not torch.backends.mps.is_available():  # was PyTorch's RuntimeError from the first tensor moved there
        with pytest.raises(WordmoreError, match="device mps asked for, but this machine has no Apple GPU"):
            pick_device("mps")


def test_a_run_on_a_relative_path_resumes_from_another_folder(names_file, tmp_path, monkeypatch):
    monkeypatch.chdir(names_file.parent)
    out = tmp_path / "r"
    common = ["--level", "char", "--max-steps", "20", *TINY, "--out", str(out)]
    assert run([*common, "--dataset", names_file.name, "--stop-after", "10"]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["dataset"] == str(names_file.resolve())
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert run([*common, "--resume"]) == 0  # the run's own path, absolute, still finds the text
    monkeypatch.chdir(names_file.parent)
    assert run([*common, "--resume", "--max-steps", "30", "--dataset", names_file.name]) == 0  # the same file, given
    assert load_checkpoint(out / "ckpt.pt")["step"] == 30


def test_an_empty_split_s_loss_is_null_in_the_run_s_json(words_file, tmp_path, capsys):
    out = tmp_path / "r"
    assert run(["--level", "word", "--dataset", str(words_file), "--min-count", "1", *TINY, "--max-steps", "20",
                "--negatives", "8", "--val-frac", "0", "--test-frac", "0", "--out", str(out)]) == 0
    assert "val loss nan, test loss nan" in capsys.readouterr().out  # said, as before

    def strict(s):  # what jq and JSON.parse accept: no NaN
        return json.loads(s, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON"))
    rows = [strict(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(r.get("val_loss", None) is None for r in rows)
    summary = strict((out / "summary.json").read_text())
    assert summary["step"] == 20 and "val_loss" not in summary  # no loss to give
    from wordmore.cli import main as cli
    assert cli(["report", str(out), "--no-explorer"]) == 0
    assert "nan" not in (out / "report.md").read_text().lower()
