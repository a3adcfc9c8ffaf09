"""Training: configuration, device and seeds, the one loop for every level, checkpoints, resume."""
from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from .atomic import atomic_path, atomic_write_text
from .data import Batcher, DataConfig, prepare, subsample_keep
from .embeddings import Embeddings
from .errors import WordmoreError
from .model import ContextMLP, ModelConfig
from .optim import RowAdam
from .royal import royal_report
from .vocab import TokenizerConfig, Vocab

CKPT_FORMAT = 1


@dataclass
class TrainConfig:
    """Optimisation and run bookkeeping."""

    level: str = "char"  # char | word: only changes tokenization
    out: str = ""  # run directory ('' = runs/<level>-<dataset>)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    seed: int = 42
    batch_size: int = 64
    lr: float = 3e-3
    min_lr_frac: float = 0.05  # cosine decay ends at lr * min_lr_frac
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # 0 = off
    max_steps: int = 20000
    minutes: float = 0.0  # wall-clock budget for the whole command (0 = none); stops cleanly
    stop_after: int = 0  # stop (with a checkpoint) after this step without changing the schedule
    eval_every: int = 2000
    eval_tokens: int = 50000  # validation positions per evaluation (a fixed sample)
    ckpt_every: int = 5000
    subsample: float = 0.0  # word2vec frequent-target subsampling threshold t (0 = off)
    subsample_context: float = 0.0  # threshold for thinning the text the windows read (word2vec; 0 = off)
    compile: bool = False  # torch.compile the model
    cuda_graph: bool = True  # one CUDA GPU: capture a step (gather, forward, backward, AdamW) once, then replay it
    precision: str = "auto"  # auto (bf16 autocast on CUDA and on CPUs with native bf16, else fp32) | bf16 | fp32
    resume: bool = False
    overwrite: bool = False  # start again in a run directory that holds a checkpoint


# level-specific defaults: the only place they live
PRESETS = {
    "char": {
        "data": {"dataset": "names", "min_count": 1},
        "tokenizer": {"lowercase": True, "punct": False},
        "model": {"context": 8, "window": "left", "n_embd": 24, "n_hidden": 256, "n_layer": 1,
                  "head": "softmax", "emb_init": 0.1},
        "train": {"batch_size": 256, "lr": 3e-3, "max_steps": 40000, "eval_every": 4000, "precision": "fp32",
                  "warmup": 200, "weight_decay": 0.05},
    },
    "word": {
        "data": {"dataset": "fairy", "min_count": 5, "max_vocab": 30000, "val_frac": 0.02, "test_frac": 0.02},
        "tokenizer": {"lowercase": True, "punct": False},
        "model": {"context": 4, "window": "both", "n_embd": 100, "n_hidden": 100, "n_layer": 1,
                  "head": "sampled", "emb_init": 0.01, "negatives": 512, "direct": True, "tie": True},
        "train": {"batch_size": 8192, "lr": 1e-2, "max_steps": 7000, "minutes": 9.5, "precision": "auto",
                  "eval_every": 1000, "eval_tokens": 20000, "subsample": 1e-4, "subsample_context": 1e-3,
                  "warmup": 200, "weight_decay": 0.0, "grad_clip": 0.0, "ckpt_every": 1000},
        # the same on a GPU: batch 8,192 x 7,000 steps is ~8 s of an H200, and the larger batches that
        # were its GPU part scored lower (the GPU sweeps in BENCHMARKS.md)
    },
}


@dataclass
class RunConfig:
    """Everything that defines a run; printed and saved as config.json."""

    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict:
        """Plain types."""
        return {"train": asdict(self.train), "data": asdict(self.data),
                "tokenizer": asdict(self.tokenizer), "model": asdict(self.model)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Inverse of to_dict; unknown keys are ignored."""
        def make(kls, sub):
            names = {f.name for f in fields(kls)}
            return kls(**{k: v for k, v in (sub or {}).items() if k in names})
        return cls(make(TrainConfig, d.get("train")), make(DataConfig, d.get("data")),
                   make(TokenizerConfig, d.get("tokenizer")), make(ModelConfig, d.get("model")))


SECTIONS = {"train": TrainConfig, "data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig}


def resolve_config(level: str, overrides: dict) -> RunConfig:
    """Dataclass defaults, the level preset, then explicit overrides."""
    if level not in PRESETS:
        raise WordmoreError(f"unknown level {level!r}: choose char or word")
    d = {s: {} for s in SECTIONS}
    for s, vals in PRESETS[level].items():
        d[s].update(vals)
    for s, vals in overrides.items():
        d[s].update(vals)
    d["train"]["level"] = level
    d["tokenizer"]["level"] = level
    cfg = RunConfig.from_dict(d)
    m = cfg.model
    if m.tie and (m.n_embd != m.n_hidden or not m.direct) and "tie" not in overrides.get("model", {}):
        m.tie = False  # a preset's tied tables yield to sizes set by hand and to --no-direct (--tie insists)
    return cfg


def pick_device(name: str) -> torch.device:
    """auto: cuda, then mps, then cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise WordmoreError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise WordmoreError("device cuda asked for, but no CUDA GPU is available")
    return dev


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup, then cosine decay to lr * min_lr_frac as progress goes 0 -> 1."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = min(max(progress, 0.0), 1.0)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(path: Path, state: dict) -> None:
    """Write a checkpoint atomically (temporary file, fsync, rename)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_path(path, "wb") as f:
        f.write(buf.getbuffer())


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Read a checkpoint with weights_only=True; a bad file is a clear error."""
    path = Path(path)
    if not path.exists():
        raise WordmoreError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise WordmoreError(f"checkpoint {path} is corrupt or truncated ({type(e).__name__})") from None
    if not isinstance(state, dict) or "format" not in state or "model" not in state:
        raise WordmoreError(f"{path} is not a wordmore checkpoint")
    if state["format"] > CKPT_FORMAT:
        raise WordmoreError(f"checkpoint {path} has format {state['format']}, newer than this wordmore "
                            f"reads ({CKPT_FORMAT}); upgrade wordmore")
    return state


def load_model(run_dir, device="cpu") -> tuple[ContextMLP, Vocab, RunConfig, dict]:
    """Model, vocabulary and config from a run directory (or a ckpt.pt path)."""
    p = Path(run_dir)
    state = load_checkpoint(p / "ckpt.pt" if p.is_dir() else p, map_location=device)
    cfg = RunConfig.from_dict(state["config"])
    vocab = Vocab.from_dict(state["vocab"])
    cfg.model.sparse = False
    model = ContextMLP(cfg.model)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise WordmoreError(f"checkpoint weights do not fit its config: {str(e).splitlines()[0]}") from None
    model.set_noise(vocab.counts)
    return model.to(device).eval(), vocab, cfg, state


# ---------------------------------------------------------------- run directory

class RunLock:
    """A lock file holding the owner's pid; a stale lock from a dead process is taken over."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / ".lock"
        self.held = False

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, f"{os.getpid()}\n".encode())
                os.close(fd)
                self.held = True
                return self
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise WordmoreError(f"run directory {self.path.parent} is in use by a live run "
                                        f"(pid {pid}); wait for it or choose another --out") from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # stale lock
        raise WordmoreError(f"could not lock {self.path}")

    def release(self):
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.held = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def latest_run_file() -> Path:
    """Where the path of the most recent word run is kept."""
    root = os.environ.get("WORDMORE_CACHE") or Path.home() / ".cache" / "wordmore"
    return Path(root) / "latest-word-run"


# ---------------------------------------------------------------- distributed

def dist_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


# ---------------------------------------------------------------- the loop

class _Stop:
    """Signal flag: SIGINT/SIGTERM ask the loop to checkpoint and stop."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        if threading_main():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def threading_main() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


@torch.no_grad()
def evaluate_loss(model: ContextMLP, batcher: Batcher, positions, device, batch: int = 4096,
                  precision: str = "auto") -> float:
    """Mean loss over fixed positions (neg head: with a fixed noise sample)."""
    was = model.training
    model.eval()
    gen_saved = model.generator
    if model.cfg.head in ("neg", "sampled"):
        model.generator = torch.Generator(device=model.noise.device).manual_seed(0)
    total, n = 0.0, 0
    for i in range(0, len(positions), batch):
        pos = positions[i:i + batch]
        x, y = batcher.gather(pos)
        with _autocast(device, precision):
            _, loss = model(x.to(device), y.to(device))
        total += float(loss) * len(pos)
        n += len(pos)
    model.generator = gen_saved
    model.train(was)
    return total / max(n, 1)


@functools.lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512_bf16" in line or "amx_bf16" in line
    except OSError:
        pass
    return False


def resolve_precision(device: torch.device, precision: str) -> str:
    """auto: bf16 on CUDA and on CPUs with native bf16, else fp32."""
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()) else "fp32"


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Have glibc keep freed blocks for reuse instead of returning them to the kernel (CPU training).

    A training step allocates and frees the same few-MB tensors every step; by default glibc maps each one
    fresh and the kernel zeroes its pages again (197 k page faults in 130 steps, 97 k with this). Linux/glibc only."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def _clip_dense(model: ContextMLP, max_norm: float) -> None:
    """Clip the global norm of the dense gradients (0 = off)."""
    if max_norm > 0:
        dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
        torch.nn.utils.clip_grad_norm_(dense, max_norm)


def _autocast(device: torch.device, precision: str = "auto", cache: bool = True):
    if resolve_precision(device, precision) == "bf16" and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


class GraphedStep:
    """One training step (window gather, forward, backward, AdamW) captured once as a CUDA graph and replayed.

    The host only draws the positions and noise words (the same draws as the eager loop) and launches the
    graph, so a step costs the GPU's time rather than ~100 kernel launches. Falls back to eager on failure."""

    WARMUP = 3  # eager steps on a side stream first (optimizer state, autograd buffers)

    def __init__(self, model: ContextMLP, batcher: Batcher, opt, batch: int, precision: str, device,
                 grad_clip: float = 0.0, log=print):
        self.model, self.batcher, self.opt, self.precision, self.device, self.log = (
            model, batcher, opt, precision, device, log)
        self.grad_clip = grad_clip
        self.pos = torch.ones(batch, dtype=torch.long, device=device)  # (B,) target positions
        self.neg = (torch.zeros(model.cfg.negatives, dtype=torch.long, device=device)
                    if model.cfg.head in ("neg", "sampled") else None)  # (K,) noise words
        self.lr = torch.tensor(float(opt.param_groups[0]["lr"]), dtype=torch.float32, device=device)
        for g in opt.param_groups:
            g["lr"] = self.lr
            g["capturable"] = True  # also when a resumed checkpoint came from an eager run
        self.loss = torch.zeros((), dtype=torch.float32, device=device)
        self.graph, self.calls, self.failed = None, 0, False

    def _body(self):
        x, y = self.batcher.gather(self.pos)  # (B, T), (B,)
        with _autocast(self.device, self.precision, cache=False):
            _, loss = self.model(x, y, self.neg)
        loss.backward()
        _clip_dense(self.model, self.grad_clip)
        self.opt.step()
        self.loss.copy_(loss.detach())

    def __call__(self, pos: torch.Tensor, neg: torch.Tensor | None, lr: float) -> torch.Tensor:
        """Run one step on these positions and noise words; returns the (static) loss tensor."""
        self.pos.copy_(pos)
        if neg is not None:
            self.neg.copy_(neg)
        self.lr.fill_(lr)
        if self.graph is not None:
            self.graph.replay()
            return self.loss
        self.calls += 1
        if self.failed or self.calls <= self.WARMUP:
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self.opt.zero_grad(set_to_none=True)
                self._body()
            torch.cuda.current_stream(self.device).wait_stream(side)
            return self.loss
        graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)
        try:
            with torch.cuda.graph(graph):
                self._body()
        except Exception as e:  # capture refused (an op that syncs, say): keep training eagerly
            self.failed = True
            self.log(f"warning: CUDA graph capture failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                     f"training continues without it")
            torch.cuda.synchronize(self.device)
            return self(pos, neg, lr)
        self.graph = graph
        graph.replay()  # capture records without running: run this step
        return self.loss


def _optimizers(model: ContextMLP, cfg: TrainConfig, device, capturable: bool = False) -> dict:
    sparse, decay, no_decay = [], [], []
    for name, p in model.named_parameters():
        if model.cfg.sparse and (name.startswith("C.") or name.startswith("out_emb") or name.startswith("out_bias")):
            sparse.append(p)
        elif p.dim() >= 2 and not name.startswith("C.") and not name.startswith("out_emb"):
            decay.append(p)
        else:
            no_decay.append(p)
    kw = {"fused": True} if device.type in ("cuda", "cpu") else {}
    if capturable:
        kw["capturable"] = True
    opts = {"dense": torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                        {"params": no_decay, "weight_decay": 0.0}],
                                       lr=cfg.lr, betas=(0.9, 0.99), **kw)}
    if sparse:
        opts["sparse"] = RowAdam(sparse, lr=cfg.lr, betas=(0.9, 0.99))
    return opts


def _thin_seed(seed: int, n: int) -> int:
    """Seed of the n-th thinning of the text: a function of the run's seed, so a resumed run thins alike."""
    return (seed * 1_000_003 + n) % (2 ** 63)


def _rng_state(gen: torch.Generator) -> dict:
    return {"gen": gen.get_state(), "gen_device": str(gen.device), "torch": torch.get_rng_state()}


def train(cfg: RunConfig, log=print, t_start: float | None = None) -> dict:
    """Train (or resume) a run; returns a summary dict. Rank 0 alone writes files."""
    t_start = time.time() if t_start is None else t_start
    rank, world, local_rank = dist_info()
    tc = cfg.train
    _validate(cfg)
    out = Path(tc.out or f"runs/{tc.level}-{Path(cfg.data.dataset).name or 'corpus'}")
    ckpt_path = out / "ckpt.pt"
    state = None
    if tc.resume:
        if not ckpt_path.exists():
            raise WordmoreError(f"--resume: no checkpoint in {out}")
        state = load_checkpoint(ckpt_path)
        saved = RunConfig.from_dict(state["config"])
        if saved.train.level != tc.level:
            raise WordmoreError(f"run directory {out} holds a {saved.train.level}-level model, "
                                f"not {tc.level}; choose another --out")
        keep = {k: getattr(tc, k) for k in ("max_steps", "minutes", "stop_after", "device", "resume", "compile")}
        cfg = saved
        for k, v in keep.items():
            setattr(cfg.train, k, v)
        tc = cfg.train
    elif ckpt_path.exists() and not tc.overwrite:
        try:
            other = RunConfig.from_dict(load_checkpoint(ckpt_path)["config"]).train.level
        except WordmoreError:
            other = None
        if other and other != tc.level:
            raise WordmoreError(f"run directory {out} holds a {other}-level model; choose another --out")
        raise WordmoreError(f"run directory {out} already holds a checkpoint: pass --resume to continue "
                            f"it or --overwrite to start again")

    device = pick_device(tc.device)
    if device.type == "cpu":
        keep_freed_memory()
    if world > 1:
        import torch.distributed as dist
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if tc.batch_size % world:
            raise WordmoreError(f"--batch-size {tc.batch_size} is not divisible by {world} processes")
    is_main = rank == 0
    say = log if is_main else (lambda *a, **k: None)

    lock = RunLock(out)
    if is_main:
        lock.acquire()
    try:
        return _run(cfg, state, out, device, rank, world, is_main, say, t_start)
    finally:
        if is_main:
            lock.release()


def _validate(cfg: RunConfig) -> None:
    t, m, d = cfg.train, cfg.model, cfg.data
    checks = [(m.context >= 1, "--context must be at least 1"), (m.n_embd >= 1, "--n-embd must be at least 1"),
              (m.n_hidden >= 1, "--n-hidden must be at least 1"), (m.n_layer >= 1, "--n-layer must be at least 1"),
              (t.batch_size >= 1, "--batch-size must be at least 1"), (t.lr > 0, "--lr must be positive"),
              (t.max_steps >= 1, "--max-steps must be at least 1"), (t.minutes >= 0, "--minutes must be >= 0"),
              (d.min_count >= 1, "--min-count must be at least 1"), (d.max_vocab >= 0, "--max-vocab must be >= 0"),
              (m.window in ("left", "both"), "--window must be left or both"),
              (m.head in ("softmax", "adaptive", "neg", "sampled"), "--head must be softmax, adaptive, neg or sampled"),
              (m.negatives >= 1, "--negatives must be at least 1"), (t.eval_every >= 1, "--eval-every must be >= 1"),
              (t.precision in ("auto", "bf16", "fp32"), "--precision must be auto, bf16 or fp32"),
              (t.subsample >= 0 and t.subsample_context >= 0, "--subsample and --subsample-context must be >= 0"),
              (not m.tie or (m.head != "adaptive" and m.n_embd == m.n_hidden),
               f"--tie needs --n-embd equal to --n-hidden (got {m.n_embd} and {m.n_hidden}) "
               "and a head other than adaptive")]
    for ok, msg in checks:
        if not ok:
            raise WordmoreError(msg)


def _run(cfg: RunConfig, state, out: Path, device, rank, world, is_main, say, t_start) -> dict:
    tc, mc = cfg.train, cfg.model
    torch.manual_seed(tc.seed)
    corpus = prepare(cfg.data, cfg.tokenizer, min_tokens=2, log=say)
    vocab = corpus.vocab
    if state is not None and Vocab.from_dict(state["vocab"]).itos != vocab.itos:
        raise WordmoreError("--resume: the corpus now gives a different vocabulary than the checkpoint's")
    n_train = corpus.meta["tokens"]["train"]
    if n_train <= mc.n_ctx:
        raise WordmoreError(f"corpus is smaller than the context window: {n_train} training tokens, "
                            f"window of {mc.n_ctx}")
    mc.vocab_size = len(vocab)
    if mc.head == "softmax" and len(vocab) > 50000:
        say(f"note: full softmax over {len(vocab):,} words is slow; consider --head adaptive or neg")
    # sparse row updates (SparseAdam) pay off on the CPU; on a GPU dense grads and fused AdamW are faster
    mc.sparse = (tc.level == "word" and world == 1 and device.type == "cpu" and mc.head != "softmax"
                 and not tc.compile)  # torch.compile handles no sparse gradients
    model = ContextMLP(mc)
    model.set_noise(vocab.counts)
    model.to(device)
    gen = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(tc.seed)
    model.generator = gen
    graphed = (tc.cuda_graph and device.type == "cuda" and world == 1 and not tc.compile and not mc.sparse
               and mc.head != "adaptive")  # the adaptive head's shapes depend on the data
    opts = _optimizers(model, tc, device, capturable=graphed)
    step, elapsed_before, best_val = 0, 0.0, float("inf")
    if state is not None:
        model.load_state_dict(state["model"])
        if set(state["optim"]) == set(opts):
            for k, o in opts.items():
                o.load_state_dict(state["optim"][k])
        else:
            say("warning: the checkpoint's optimizer was built for another device (sparse vs dense rows); "
                "Adam moments start afresh")
        step, elapsed_before = int(state["step"]), float(state.get("elapsed", 0.0))
        best_val = float(state.get("best_val", best_val))
        rs = state["rng"]
        if rs.get("gen_device") == str(gen.device):
            gen.set_state(rs["gen"])
        else:
            say(f"warning: checkpoint was written on {rs.get('gen_device')}; batches after resume differ")
        torch.set_rng_state(rs["torch"])
        say(f"resumed {out} at step {step}")
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=1))
        vocab.save(out / "vocab.json")
        say("config: " + json.dumps(cfg.to_dict()))
    if mc.tie and not mc.direct and mc.head == "sampled":
        say("warning: --tie without --direct did not train in our runs of the sampled head (the loss stays near "
            "chance and every word vector points one way); add --direct or drop --tie")
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model: ContextMLP {n_params:,} parameters, vocab {len(vocab):,}, window {mc.window} x{mc.context}, "
        f"head {mc.head}, device {device} ({resolve_precision(device, tc.precision)})"
        f"{f', {world} processes' if world > 1 else ''}")

    keep = subsample_keep(vocab.counts, tc.subsample) if tc.subsample > 0 else None
    bat = {s: Batcher(corpus.splits[s], vocab.boundary_id, mc.context, mc.window, device,
                      keep if s == "train" else None) for s in ("train", "val", "test")}
    thin = subsample_keep(vocab.counts, tc.subsample_context) if tc.subsample_context > 0 else None
    # only training windows read a thinned text: the held-out loss stays the loss on the real windows,
    # comparable between runs with and without thinning
    period = 0  # steps between fresh thinnings of the text the windows read: about one pass over it
    if thin is not None:
        kept = bat["train"].thin(thin, _thin_seed(tc.seed, 0))
        period = max(1, kept // tc.batch_size)
        if step >= period:  # resumed: the thinning of the current pass
            bat["train"].thin(thin, _thin_seed(tc.seed, step // period))
        say(f"subsample: windows read the text thinned to {kept:,} of {n_train:,} tokens ({kept / n_train:.0%}), "
            f"thinned afresh every {period:,} steps")
    val_pos = bat["val"].eval_positions(tc.eval_tokens) if bat["val"].n > 1 else None
    fwd = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        fwd = DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
                  find_unused_parameters=mc.head == "adaptive")
    if tc.compile:
        fwd = torch.compile(fwd)

    def checkpoint():
        if not is_main:
            return
        save_checkpoint(out / "ckpt.pt", {
            "format": CKPT_FORMAT, "config": cfg.to_dict(), "vocab": vocab.to_dict(),
            "model": model.state_dict(), "optim": {k: o.state_dict() for k, o in opts.items()},
            "step": step, "elapsed": elapsed_before + time.time() - t_loop, "best_val": best_val,
            "rng": _rng_state(gen)})

    metrics = open(out / "metrics.jsonl", "a", encoding="utf-8") if is_main else None
    def record(d):
        if metrics:
            metrics.write(json.dumps(d) + "\n")
            metrics.flush()

    from tqdm import tqdm
    B, lo, hi = tc.batch_size, rank * tc.batch_size // world, (rank + 1) * tc.batch_size // world
    step_graph = GraphedStep(model, bat["train"], opts["dense"], B, tc.precision, device,
                             tc.grad_clip, say) if graphed else None
    budget = tc.minutes * 60 if tc.minutes > 0 else 0.0
    t_loop = time.time()
    stop_reason = "max_steps"
    pbar = tqdm(total=tc.max_steps, initial=step, desc=f"train {tc.level}", disable=not is_main,
                mininterval=1.0, dynamic_ncols=True, file=sys.stderr)
    tok_t0, tok_step0, tps = time.time(), step, 0.0
    warm_step, t_warm = step + max(20, (tc.max_steps - step) // 10), None  # steady-state speed from here
    last_loss = float("nan")
    bad = None
    model.train()
    with _Stop() as stopper:
        while step < tc.max_steps:
            now = time.time()
            wall = now - t_start + elapsed_before
            progress = step / tc.max_steps
            if budget:
                progress = max(progress, wall / budget)
                if wall >= budget * 0.97:
                    stop_reason = "time budget"
                    break
            lr = lr_at(tc, step, progress)
            if period and step and step % period == 0:
                bat["train"].thin(thin, _thin_seed(tc.seed, step // period))
            pos = bat["train"].sample_positions(B, gen)  # (B,) the global batch; each rank takes its slice
            neg = model.sample_noise(gen) if mc.head in ("neg", "sampled") else None  # (K,)
            if step_graph is not None:  # gather to optimizer step in one graph, which sets its own lr
                loss = step_graph(pos, neg, lr)
            else:
                for o in opts.values():
                    for g in o.param_groups:
                        g["lr"] = lr
                x, y = bat["train"].gather(pos[lo:hi])  # (B/world, T), (B/world,)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with _autocast(device, tc.precision):
                    _, loss = fwd(x, y, neg)
            if device.type == "cpu":
                if not torch.isfinite(loss):
                    _nan_error(loss.item(), f"at step {step + 1}", out)
            else:  # no host sync per step: remember, check every 50 steps and before any checkpoint
                bad = ~torch.isfinite(loss.detach()) if bad is None else bad | ~torch.isfinite(loss.detach())
                if (step + 1) % 50 == 0 or (step + 1) % tc.ckpt_every == 0 or step + 1 == tc.max_steps:
                    if bool(bad):
                        _nan_error(float("nan"), f"between steps {max(step - 48, 1)} and {step + 1}", out)
                    bad = None
            if step_graph is None:
                for o in opts.values():
                    o.zero_grad(set_to_none=True)
                loss.backward()
                _clip_dense(model, tc.grad_clip)
                for o in opts.values():
                    o.step()
            step += 1
            if step == warm_step:
                _sync(device)
                t_warm = time.time()
            if step % 50 == 0 or step == tc.max_steps:
                last_loss = loss.item()
                dt = time.time() - tok_t0
                if dt > 0.5:
                    tps = (step - tok_step0) * B / dt
                    tok_t0, tok_step0 = time.time(), step
                pbar.set_postfix(loss=f"{last_loss:.4f}", tok_s=f"{tps:,.0f}", lr=f"{lr:.2e}", refresh=False)
                pbar.update(step - pbar.n)
            if step % tc.eval_every == 0 or step == tc.max_steps:
                val = evaluate_loss(model, bat["val"], val_pos, device, precision=tc.precision) if val_pos is not None else float("nan")
                best_val = min(best_val, val)
                rec = {"step": step, "train_loss": loss.item(), "val_loss": val, "lr": lr,
                       "tokens": step * B, "elapsed": round(elapsed_before + time.time() - t_loop, 2)}
                record(rec)
                pbar.write(f"step {step}: train {loss.item():.4f}  val {val:.4f}"
                           + (f"  ppl {math.exp(min(val, 50)):.1f}" if model.normalised() and tc.level == "word" else "")) if is_main else None
            if step % tc.ckpt_every == 0:
                checkpoint()
            if tc.stop_after and step >= tc.stop_after:
                stop_reason = f"--stop-after {tc.stop_after}"
                break
            if stopper.signal is not None:
                stop_reason = f"signal {signal.Signals(stopper.signal).name}"
                break
    pbar.update(step - pbar.n)
    pbar.close()
    _sync(device)
    train_seconds = time.time() - t_loop
    steady = (step - warm_step) * B / (time.time() - t_warm) if t_warm and step > warm_step else None
    if bad is not None and bool(bad):
        _nan_error(float("nan"), f"in the last steps before {step}", out)
    checkpoint()
    summary = {"step": step, "stopped": stop_reason, "train_seconds": round(train_seconds, 2),
               "tokens_per_s": round((step - (int(state["step"]) if state else 0)) * B / max(train_seconds, 1e-9), 1),
               "steady_tokens_per_s": round(steady, 1) if steady else None, "device": str(device),
               "cuda_graph": bool(step_graph is not None and step_graph.graph is not None),
               "precision": resolve_precision(device, tc.precision), "run_dir": str(out)}
    if stop_reason.startswith("signal"):
        say(f"interrupted ({stop_reason}) at step {step}: checkpoint saved in {out}; continue with --resume")
        if metrics:
            metrics.close()
        summary["interrupted"] = True
        return summary
    if val_pos is not None:
        summary["val_loss"] = evaluate_loss(model, bat["val"], val_pos, device, precision=tc.precision)
    if bat["test"].n > 1:
        summary["test_loss"] = evaluate_loss(model, bat["test"], bat["test"].eval_positions(max(tc.eval_tokens, 1)), device,
                                            precision=tc.precision)
    record({"final": True, **summary})
    if metrics:
        metrics.close()
    if is_main:
        emb = Embeddings(vocab.itos, model.C.weight.detach().float().cpu().numpy(),
                         lowercase=cfg.tokenizer.lowercase, counts=vocab.counts)
        emb.save_word2vec(out / "embeddings.vec")
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
        say(f"done: {step} steps ({stop_reason}) in {train_seconds:.1f}s, "
            f"val loss {summary.get('val_loss', float('nan')):.4f}, test loss {summary.get('test_loss', float('nan')):.4f}"
            + (f" (test perplexity {math.exp(min(summary['test_loss'], 50)):.1f})"
               if tc.level == "word" and model.normalised() and "test_loss" in summary else ""))
        say(f"run directory: {out} (ckpt.pt, config.json, vocab.json, metrics.jsonl, embeddings.vec)")
        if tc.level == "word":
            with contextlib.suppress(OSError):
                latest_run_file().parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(latest_run_file(), str(out.resolve()) + "\n")
            say(royal_report(emb))
    return summary


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _nan_error(value, where: str, out: Path):
    raise WordmoreError(f"loss became {value} {where}; stopped. The last good checkpoint (if any) is kept "
                        f"in {out}; try a lower --lr")
