import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from wordmore.checkpoint import load_checkpoint
from wordmore.runlock import RunLock
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
    code = (f"import sys, time, fcntl, os\nfrom wordmore.runlock import RunLock\nlock = RunLock({str(folder)!r})\n"
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


# ------------------------------------------------------------ crafted checkpoints

@pytest.fixture(scope="module")
def good_state(tmp_path_factory):
    """A real checkpoint of a tiny char run (3 steps), loaded as a plain dict."""
    from wordmore.config import resolve_config
    from wordmore.train import train
    d = tmp_path_factory.mktemp("good")
    (d / "names.txt").write_text("\n".join(["anna", "bella", "carla", "dora", "emma", "fiona", "greta"] * 20) + "\n")
    cfg = resolve_config("char", {"train": {"out": str(d / "run"), "max_steps": 3, "batch_size": 16, "warmup": 1,
                                            "eval_every": 3, "eval_tokens": 50},
                                  "data": {"dataset": str(d / "names.txt")},
                                  "model": {"n_embd": 4, "n_hidden": 8, "context": 3}})
    train(cfg, log=lambda *a, **k: None)
    return torch.load(d / "run" / "ckpt.pt", weights_only=True)


def _set(*keys, value):
    def f(s):
        for k in keys[:-1]:
            s = s[k]
        s[keys[-1]] = value
    return f


def _drop(*keys):
    def f(s):
        for k in keys[:-1]:
            s = s[k]
        del s[keys[-1]]
    return f


def _shrink_vocab(s):
    s["vocab"]["itos"].pop()
    s["vocab"]["counts"].pop()


def _shrink_vocab_and_config(s):
    _shrink_vocab(s)
    s["config"]["model"]["vocab_size"] -= 1


def _dup(s):
    s["vocab"]["itos"][2] = s["vocab"]["itos"][1]


def _optim(f):
    def g(s):
        f(s["optim"]["dense"])
    return g


def _first_moment(sd):
    i = sd["param_groups"][0]["params"][0]
    sd["state"][i]["exp_avg"] = torch.zeros(3, 3)


CRAFTED = {
    "not a dict": (lambda s: s.clear(), "not a wordmore checkpoint"),
    "format a string": (_set("format", value="1"), "format is '1'"),
    "format 0": (_set("format", value=0), "format is 0"),
    "no config": (_drop("config"), "no 'config'"),
    "config a list": (_set("config", value=[1]), "config is list"),
    "config without model": (_drop("config", "model"), "no 'model' section"),
    "n_embd a string": (_set("config", "model", "n_embd", value="4"), r"config.model.n_embd is str '4', not int"),
    "huge n_layer": (_set("config", "model", "n_layer", value=100000), "--n-layer must be at most 64"),
    "unknown head": (_set("config", "model", "head", value="magic"), "--head must be one of"),
    "unknown level": (_set("config", "tokenizer", "level", value="byte"), "unknown level 'byte'"),
    "levels disagree": (_set("config", "train", "level", value="word"), "word level with a char-level tokenizer"),
    "vocab_size 0": (_set("config", "model", "vocab_size", value=0), "vocab_size is 0"),
    "vocab a string": (_set("vocab", value="abc"), "vocab is not a mapping"),
    "itos with an int": (lambda s: s["vocab"]["itos"].append(7) or s["vocab"]["counts"].append(1), "list of strings"),
    "counts with a string": (lambda s: s["vocab"]["counts"].__setitem__(1, "3"), "list of counts"),
    "negative count": (lambda s: s["vocab"]["counts"].__setitem__(1, -3), "list of counts"),
    "counts shorter": (lambda s: s["vocab"]["counts"].pop(), "but .* counts"),
    "no boundary": (lambda s: s["vocab"]["itos"].__setitem__(0, "#"), "no boundary token"),
    "duplicate tokens": (_dup, "duplicate"),
    "tokenizer flag a string": (_set("vocab", "tokenizer", "lowercase", value="yes"), "vocab.tokenizer.lowercase"),
    "vocab smaller than weights": (_shrink_vocab, r"vocab has \d+ tokens, config.model.vocab_size is"),
    "vocab and config smaller than weights": (_shrink_vocab_and_config, r"weight C.weight has shape \(\d+, 4\)"),
    "config unlike weights": (_set("config", "model", "n_hidden", value=9), r"has shape .*, its config gives"),
    "a weight missing": (_drop("model", "C.weight"), r"missing \['C.weight'\]"),
    "an extra weight": (_set("model", "extra.weight", value=torch.zeros(2)), r"unexpected \['extra.weight'\]"),
    "a weight a list": (_set("model", "C.weight", value=[1.0]), "C.weight is not a dense floating-point"),
    "an integer weight": (lambda s: s["model"].__setitem__("C.weight", s["model"]["C.weight"].long()),
                          "not a dense floating-point"),
    "step a string": (_set("step", value="3"), "step is str"),
    "negative step": (_set("step", value=-1), "step is int -1"),
    "no rng for resume": (_drop("rng"), "no 'rng'"),
    "rng without torch": (_drop("rng", "torch"), "rng torch is not a byte tensor"),
    "rng too short": (lambda s: s["rng"].__setitem__("gen", s["rng"]["gen"][:10]), "rng states have 10"),
    "a GPU rng state of floats": (_set("rng", "cuda", value=torch.zeros(16)), "rng cuda is not a byte tensor"),
    "no optim for resume": (_drop("optim"), "no 'optim'"),
    "optim of another layout": (_set("optim", "sparse", value={"state": {}, "param_groups": []}), r"optim\.\w+"),
    "optim a list": (_set("optim", value=[]), "optim is not a mapping"),
    "a group dropped": (_optim(lambda sd: sd["param_groups"].pop()), "1 parameter groups"),
    "a moment misshapen": (_optim(_first_moment), r"exp_avg of parameter \d+ has shape \(3, 3\)"),
    "state of an unknown parameter": (_optim(lambda sd: sd["state"].__setitem__(99, {})), "parameter 99"),
    "lr a string": (_optim(lambda sd: sd["param_groups"][0].__setitem__("lr", "x")), "setting lr is 'x'"),
    "betas a number": (_optim(lambda sd: sd["param_groups"][0].__setitem__("betas", 0.9)), "setting betas"),
}


def _craft(good_state, tmp_path, name):
    import copy
    state = copy.deepcopy(good_state)
    CRAFTED[name][0](state)
    run = tmp_path / "run"
    run.mkdir()
    torch.save(state, run / "ckpt.pt")
    return run


def test_the_real_checkpoint_passes(good_state, tmp_path):
    from wordmore.ckptcheck import check_state
    check_state(good_state, "ckpt.pt", resume=True)


def test_an_older_gpu_checkpoint_with_a_tensor_lr_passes(good_state):
    """A CUDA graph's optimizer holds its lr as a tensor; checkpoints written before optim_state() keep it."""
    import copy
    from wordmore.ckptcheck import check_state
    state = copy.deepcopy(good_state)
    state["optim"]["dense"]["param_groups"][0]["lr"] = torch.tensor(5e-4)
    check_state(state, "ckpt.pt", resume=True)


@pytest.mark.parametrize("name", list(CRAFTED))
def test_a_crafted_checkpoint_is_one_clear_error(good_state, tmp_path, name):
    run = _craft(good_state, tmp_path, name)
    with pytest.raises(WordmoreError, match=f"{run / 'ckpt.pt'}.*{CRAFTED[name][1]}"):
        load_checkpoint(run / "ckpt.pt", resume=True)


def test_loading_a_model_reads_no_optimizer_and_imports_no_dynamo(good_state, tmp_path):
    import subprocess
    import sys
    run = _craft(good_state, tmp_path, "a moment misshapen")  # the optimizer is read to resume, not to load
    with pytest.raises(WordmoreError, match="exp_avg"):
        load_checkpoint(run / "ckpt.pt", resume=True)
    code = ("import sys; from wordmore.checkpoint import load_model; m = load_model(sys.argv[1])[0]; "
            "print(sum(p.numel() for p in m.parameters()), 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == "False"  # building optimizers or a random meta tensor imports it: a second of start-up


@pytest.mark.parametrize("name", ["vocab smaller than weights", "vocab and config smaller than weights",
                                  "config unlike weights", "an integer weight", "itos with an int"])
def test_sample_on_a_crafted_checkpoint_is_one_line(good_state, tmp_path, capsys, name):
    from wordmore.cli import main
    run = _craft(good_state, tmp_path, name)
    assert main(["sample", "-m", str(run), "-n", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wordmore: error: checkpoint"), err


@pytest.mark.parametrize("name", ["config unlike weights", "a moment misshapen", "rng too short", "step a string"])
def test_resume_from_a_crafted_checkpoint_is_one_line(good_state, tmp_path, capsys, name):
    from wordmore.cli import main
    run = _craft(good_state, tmp_path, name)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(["anna", "bella", "carla", "dora", "emma", "fiona", "greta"] * 20) + "\n")
    assert main(["train", "--level", "char", "--dataset", str(names), "--out", str(run), "--resume",
                 "--max-steps", "6", "--n-embd", "4", "--n-hidden", "8", "--context", "3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is unusable" in err[0], err


def test_optimizer_states_of_the_other_layout_pass_but_do_not_fit():
    from wordmore.ckptcheck import optim_fits
    from wordmore.ckptcheck import check_state
    from wordmore.config import resolve_config
    from wordmore.model import ContextMLP
    from wordmore.optim import build_optimizers
    from wordmore.vocab import TokenizerConfig, Vocab
    vocab = Vocab([f"w{i}" for i in range(9)] + ["<s>", "<unk>"], [5] * 11, TokenizerConfig("word"))
    cfg = resolve_config("word", {"model": {"n_embd": 4, "n_hidden": 4, "negatives": 4, "vocab_size": len(vocab)}})
    cpu = ContextMLP(cfg.model, sparse=True)  # a CPU run: RowAdam for the tables, AdamW for the rest
    opts = build_optimizers(cpu, 1e-3, 0.0, torch.device("cpu"))
    cpu.set_noise(vocab.counts)
    cpu(torch.zeros(2, cfg.model.n_ctx, dtype=torch.long), torch.ones(2, dtype=torch.long))[1].backward()
    for o in opts.values():
        o.step()
    state = {"format": 1, "config": cfg.to_dict(), "vocab": vocab.to_dict(), "model": cpu.state_dict(),
             "optim": {"dense": opts["dense"].state_dict()}, "step": 1, "rng": {
                 "gen": torch.get_rng_state(), "gen_device": "cpu", "torch": torch.get_rng_state()}}
    check_state(state, "ckpt.pt", resume=True)  # the CPU's dense part alone: a layout the config trains
    gpu = build_optimizers(ContextMLP(cfg.model), 1e-3, 0.0, torch.device("cpu"))  # one AdamW over everything
    assert set(gpu) == set(state["optim"]) and not optim_fits(state["optim"], gpu)
    state["optim"] = {k: o.state_dict() for k, o in opts.items()}
    assert optim_fits(state["optim"], opts)


def test_stop_signals_flag_then_raise_and_hup_counts():
    from wordmore.runtime import Interrupted, StopSignals
    with StopSignals() as stopper:
        os.kill(os.getpid(), signal.SIGHUP)
        assert stopper.signal == signal.SIGHUP and stopper.name == "SIGHUP"  # flagged: the step ends first
        with pytest.raises(Interrupted):
            with stopper.interruptible():  # a flag raised before a draw stops it at once
                pass
    with pytest.raises(Interrupted, match="SIGTERM"):
        with StopSignals(at_once=True):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_stop_signals_keep_an_ignored_hangup():
    from wordmore.runtime import StopSignals
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as `nohup wordmore train ...` starts us
    try:
        with StopSignals() as stopper:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
            assert stopper.signal is None  # the run goes on
            assert signal.getsignal(signal.SIGTERM) == stopper._handle  # the others still stop it
    finally:
        signal.signal(signal.SIGHUP, old)


def test_rng_state_round_trips_and_names_a_gpu_generator_only_on_a_gpu():
    from wordmore.checkpoint import restore_rng, rng_state
    gen = torch.Generator().manual_seed(3)
    state = rng_state(gen)
    assert "cuda" not in state  # a CPU run: torch's CPU generator is saved as "torch"
    a = (torch.rand(4, generator=gen), torch.rand(4))
    restore_rng(state, gen)
    assert torch.equal(a[0], torch.rand(4, generator=gen)) and torch.equal(a[1], torch.rand(4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_rng_state_keeps_the_gpu_default_generator():
    from wordmore.checkpoint import restore_rng, rng_state
    gen = torch.Generator(device="cuda").manual_seed(3)
    state = rng_state(gen)
    assert state["cuda"].dtype == torch.uint8
    a = torch.rand(8, device="cuda")  # the default CUDA generator: any draw made without a generator
    restore_rng(state, gen)
    assert torch.equal(a, torch.rand(8, device="cuda"))


def test_a_folder_the_lock_made_goes_with_it_when_the_run_wrote_nothing(tmp_path):
    fresh, used, there = tmp_path / "a" / "new", tmp_path / "used", tmp_path / "there"
    there.mkdir()
    RunLock(fresh).acquire().release()
    assert not fresh.exists() and (tmp_path / "a").exists()  # only the folder the run named
    lock = RunLock(used).acquire()
    (used / "config.json").write_text("{}")
    lock.release()
    assert (used / "config.json").exists() and not (used / ".lock").exists()
    RunLock(there).acquire().release()
    assert there.is_dir()  # it was there before: kept, although empty
