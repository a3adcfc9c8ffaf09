"""The run directory: self-contained checkpoints (atomic, weights_only), the resume state, the one-run lock."""
from __future__ import annotations

import io
from pathlib import Path

import torch

from .atomic import atomic_path
from .ckptcheck import check_state
from .config import RunConfig
from .errors import WordmoreError
from .model import ContextMLP
from .source import canonical
from .vocab import Vocab


def save_checkpoint(path: Path, state: dict) -> None:
    """Write a checkpoint atomically (temporary file, fsync, rename)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_path(path, "wb") as f:
        f.write(buf.getbuffer())


def load_checkpoint(path: Path, map_location="cpu", resume: bool = False) -> dict:
    """Read a checkpoint with weights_only=True and check its structure (check_state); a bad file is a clear error."""
    path = Path(path)
    if not path.exists():
        raise WordmoreError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise WordmoreError(f"checkpoint {path} is corrupt or truncated ({type(e).__name__})") from None
    check_state(state, path, resume)
    return state


def load_model(run_dir, device="cpu") -> tuple[ContextMLP, Vocab, RunConfig, dict]:
    """Model, vocabulary and config from a run directory (or a ckpt.pt path)."""
    p = Path(run_dir)
    state = load_checkpoint(p / "ckpt.pt" if p.is_dir() else p, map_location=device)
    cfg = RunConfig.from_dict(state["config"])
    vocab = Vocab.from_dict(state["vocab"])
    model = ContextMLP(cfg.model)
    model.load_state_dict(state["model"])  # keys and shapes checked by check_state
    model.set_noise(vocab.counts)
    return model.to(device).eval(), vocab, cfg, state


def rng_state(gen: torch.Generator) -> dict:
    """The batch generator's (positions, noise words, word dropout) and torch's RNG states, for an exact resume;
    on a GPU also its default generator's, for any draw made there without a generator."""
    state = {"gen": gen.get_state(), "gen_device": str(gen.device), "torch": torch.get_rng_state()}
    if gen.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(gen.device)
    return state


def restore_rng(state: dict, gen: torch.Generator, log=print) -> None:
    """Set the RNG states saved by rng_state (batches differ when the checkpoint came from another device)."""
    if state.get("gen_device") == str(gen.device):
        gen.set_state(state["gen"])
        if "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], gen.device)
    else:
        log(f"warning: checkpoint was written on {state.get('gen_device')}; batches after resume differ")
    torch.set_rng_state(state["torch"])


RESUME_MAY_CHANGE = ("epochs", "tokens", "max_steps", "minutes", "stop_after", "device", "resume", "compile")
RESUME_MAY_SET = {"train": ("eval_every", "ckpt_every"), "data": ("workers", "num_proc", "cache_dir")}  # no weight moves


def resume_config(cfg: RunConfig, out: Path, given: dict | None = None) -> tuple[RunConfig, dict | None]:
    """With --resume: the checkpoint's config (this command's length, device and compile flags kept) and state,
    refusing other flags given (given: section -> {field: value}) that differ from the run's; without: a refusal
    when out already holds a checkpoint and --overwrite is not given."""
    tc, ckpt_path = cfg.train, out / "ckpt.pt"
    if tc.resume:
        if tc.overwrite:
            raise WordmoreError("--resume continues the run in --out and --overwrite starts it again: give one of them")
        if not ckpt_path.exists():
            raise WordmoreError(f"--resume: no checkpoint in {out}")
        state = load_checkpoint(ckpt_path, resume=True)
        saved = RunConfig.from_dict(state["config"])
        if saved.train.level != tc.level:
            raise WordmoreError(f"run directory {out} holds a {saved.train.level}-level model, "
                                f"not {tc.level}; choose another --out")
        changed = [f"--{k.replace('_', '-')} {v!r} (the run has {getattr(getattr(saved, sec), k)!r})"
                   for sec, flags in (given or {}).items() for k, v in flags.items()
                   if not (sec == "train" and k in RESUME_MAY_CHANGE + ("out", "overwrite"))
                   and k not in RESUME_MAY_SET.get(sec, ()) and hasattr(getattr(saved, sec), k)
                   and getattr(getattr(saved, sec), k) != (canonical(v) if k == "dataset" else v)]
        if changed:
            raise WordmoreError(f"--resume continues the run in {out} as it was made, but "
                                f"{', '.join(changed)} differ: drop them, or start a new run with another --out")
        if 0 < tc.stop_after <= state["step"]:
            raise WordmoreError(f"--resume: {out} is at step {state['step']:,}, already at --stop-after "
                                f"{tc.stop_after:,}: nothing to do (give a later --stop-after, or none)")
        for k in RESUME_MAY_CHANGE:
            setattr(saved.train, k, getattr(tc, k))
        for sec, flags in (given or {}).items():  # given ones only: the run's own stay otherwise
            for k in set(RESUME_MAY_SET.get(sec, ())) & set(flags):
                setattr(getattr(saved, sec), k, flags[k])
        return saved, state
    if ckpt_path.exists() and not tc.overwrite:
        try:
            other = RunConfig.from_dict(load_checkpoint(ckpt_path)["config"]).train.level
        except WordmoreError:
            other = None
        if other and other != tc.level:
            raise WordmoreError(f"run directory {out} holds a {other}-level model; choose another --out")
        raise WordmoreError(f"run directory {out} already holds a checkpoint: pass --resume to continue "
                            f"it or --overwrite to start again")
    return cfg, None
