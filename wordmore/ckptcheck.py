"""A checkpoint's structure checked against its own config before any of its tensors is used: check_state()."""
from __future__ import annotations

from dataclasses import fields

import torch

from .config import SECTIONS, RunConfig
from .errors import WordmoreError
from .options import check_fields, field_default
from .vocab import Vocab

CKPT_FORMAT = 1
RESUME_KEYS = ("optim", "step", "rng")  # what --resume reads beyond the model


class _Bad(Exception):
    """One thing wrong with a checkpoint; check_state names the file."""


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _scalar(v) -> bool:
    return isinstance(v, torch.Tensor) and v.numel() == 1 and v.is_floating_point()


def check_state(state, path, resume: bool = False) -> None:
    """Types of every part, vocabulary and config consistent, weights' (and optimizer moments') shapes those of
    ContextMLP(config); raises one WordmoreError line naming the file. resume: optim, step and rng required."""
    if not isinstance(state, dict) or "format" not in state or "model" not in state:
        raise WordmoreError(f"{path} is not a wordmore checkpoint")
    fmt = state["format"]
    if _int(fmt) and fmt > CKPT_FORMAT:
        raise WordmoreError(f"checkpoint {path} has format {fmt}, newer than this wordmore reads ({CKPT_FORMAT}); "
                            f"upgrade wordmore")
    try:
        if not _int(fmt) or fmt < 1:
            raise _Bad(f"format is {fmt!r}, not a version number")
        for k in ("config", "vocab", *(RESUME_KEYS if resume else ())):
            if k not in state:
                raise _Bad(f"it has no {k!r}")
        cfg = _check_config(state["config"])
        _check_vocab(state["vocab"], cfg)
        _check_weights(state["model"], cfg)
        for k in ("step", "elapsed", "best_val"):
            if k in state and not (_int(state[k]) and state[k] >= 0 if k == "step" else _num(state[k])):
                raise _Bad(f"{k} is {type(state[k]).__name__} {state[k]!r}")
        if "rng" in state:
            _check_rng(state["rng"])
        if "optim" in state and resume:  # read only to resume (building optimizers imports torch._dynamo: 1 s)
            _check_optim(state["optim"], cfg)
    except _Bad as e:
        raise WordmoreError(f"checkpoint {path} is unusable: {e}") from None


def _check_fields(kls, d, where: str) -> None:
    """Each known key of a config section has its field's type (unknown keys, from other versions, are ignored)."""
    if not isinstance(d, dict):
        raise _Bad(f"{where} is {type(d).__name__}, not a mapping")
    for f in fields(kls):
        if f.name not in d:
            continue
        v, want = d[f.name], field_default(f)
        ok = (isinstance(v, bool) if isinstance(want, bool) else _int(v) if isinstance(want, int) else
              _num(v) if isinstance(want, float) else isinstance(v, str) if isinstance(want, str) else
              isinstance(v, list) and all(_int(x) for x in v))
        if not ok:
            raise _Bad(f"{where}.{f.name} is {type(v).__name__} {v!r}, not {type(want).__name__}")


def _check_config(d) -> RunConfig:
    if not isinstance(d, dict):
        raise _Bad(f"config is {type(d).__name__}, not a mapping")
    for name, kls in SECTIONS.items():
        if name not in d:
            raise _Bad(f"config has no {name!r} section")
        _check_fields(kls, d[name], f"config.{name}")
    try:
        cfg = RunConfig.from_dict(d)
        for name in SECTIONS:
            check_fields(getattr(cfg, name))
        cfg.model.validate()
    except (WordmoreError, ValueError) as e:
        raise _Bad(f"config: {e}") from None
    if cfg.train.level != cfg.tokenizer.level:
        raise _Bad(f"config is for {cfg.train.level} level with a {cfg.tokenizer.level}-level tokenizer")
    if cfg.model.vocab_size < 1:
        raise _Bad(f"config.model.vocab_size is {cfg.model.vocab_size}")
    return cfg


def _check_vocab(d, cfg: RunConfig) -> None:
    if not isinstance(d, dict) or not all(k in d for k in ("itos", "counts", "tokenizer")):
        raise _Bad("vocab is not a mapping of itos, counts and tokenizer")
    itos, counts = d["itos"], d["counts"]
    if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
        raise _Bad("vocab itos is not a list of strings")
    if not isinstance(counts, list) or not all(_int(c) and c >= 0 for c in counts):
        raise _Bad("vocab counts is not a list of counts (integers >= 0)")
    if len(itos) != len(counts):
        raise _Bad(f"vocab has {len(itos)} tokens but {len(counts)} counts")
    _check_fields(type(cfg.tokenizer), d["tokenizer"], "vocab.tokenizer")
    try:
        vocab = Vocab.from_dict(d)
    except (ValueError, KeyError, TypeError) as e:
        raise _Bad(f"vocab: {e if not isinstance(e, KeyError) else f'no boundary token {e}'}") from None
    if vocab.tokenizer.level != cfg.tokenizer.level:
        raise _Bad(f"vocab is {vocab.tokenizer.level}-level, config {cfg.tokenizer.level}-level")
    if len(vocab) != cfg.model.vocab_size:
        raise _Bad(f"vocab has {len(vocab)} tokens, config.model.vocab_size is {cfg.model.vocab_size}")


class _NoInit(torch.overrides.TorchFunctionMode):
    """Initialisers as no-ops: a meta tensor has no values, and a random one on meta imports torch._dynamo (1 s)."""

    NAMES = {"normal_", "trunc_normal_", "uniform_", "zeros_", "ones_", "constant_"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.NAMES:
            return args[0] if args else next(iter(kwargs.values()))  # the tensor, as the initialisers return it
        return func(*args, **(kwargs or {}))


def _meta_model(cfg: RunConfig, sparse: bool = False):
    """The config's model with no storage (the meta device), for its parameter shapes."""
    from .model import ContextMLP
    try:
        with torch.device("meta"), _NoInit():
            return ContextMLP(cfg.model, sparse=sparse)
    except (ValueError, RuntimeError) as e:
        raise _Bad(f"config builds no model ({str(e).splitlines()[0]})") from None


def _check_weights(sd, cfg: RunConfig) -> None:
    if not isinstance(sd, dict) or not all(isinstance(k, str) for k in sd):
        raise _Bad("model is not a mapping of weight names")
    want = _meta_model(cfg).state_dict()
    missing, extra = [k for k in want if k not in sd], [k for k in sd if k not in want]
    if missing or extra:
        raise _Bad(f"weights do not fit its config: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, w in want.items():
        t = sd[k]
        if not isinstance(t, torch.Tensor) or t.layout != torch.strided or not t.is_floating_point():
            raise _Bad(f"weight {k} is not a dense floating-point tensor")
        if t.shape != w.shape:
            raise _Bad(f"weight {k} has shape {tuple(t.shape)}, its config gives {tuple(w.shape)}")


def _check_rng(rng) -> None:
    if not isinstance(rng, dict) or not isinstance(rng.get("gen_device"), str):
        raise _Bad("rng is not a mapping with gen, gen_device and torch")
    n = torch.get_rng_state().numel()
    for k in ("gen", "torch") + (("cuda",) if "cuda" in rng else ()):
        t = rng.get(k)
        if not isinstance(t, torch.Tensor) or t.dtype != torch.uint8 or t.dim() != 1:
            raise _Bad(f"rng {k} is not a byte tensor")
    if rng["torch"].numel() != n or (rng["gen_device"] == "cpu" and rng["gen"].numel() != n):
        raise _Bad(f"rng states have {rng['gen'].numel()} and {rng['torch'].numel()} bytes, not {n}")


def _check_optim(optim, cfg: RunConfig) -> None:
    """Optimizer states that fit the config's model in one of its layouts (sparse rows on the CPU, dense elsewhere)."""
    if not isinstance(optim, dict) or "dense" not in optim or not set(optim) <= {"dense", "sparse"}:
        raise _Bad("optim is not a mapping of dense (and sparse) optimizer states")
    from .optim import build_optimizers
    first = None
    for sparse in ("sparse" in optim, "sparse" not in optim):  # the layout its keys name first
        opts = build_optimizers(_meta_model(cfg, sparse), 1e-3, 0.0, torch.device("meta"))
        try:
            if not set(optim) <= set(opts):
                raise _Bad(f"optim has {sorted(optim)}, its config trains {sorted(opts)}")
            for name in optim:
                _check_one_optim(optim[name], opts[name].param_groups, f"optim.{name}")
            return
        except _Bad as e:
            first = first or e
    raise first


def optim_fits(saved: dict, opts: dict) -> bool:
    """Whether checked optimizer states load into these optimizers: the same set, groups, sizes and shapes."""
    if set(saved) != set(opts):
        return False
    try:
        for name, opt in opts.items():
            _check_one_optim(saved[name], opt.param_groups, name)
    except _Bad:
        return False
    return True


def _check_one_optim(sd, groups: list, where: str) -> None:
    """An optimizer state dict: its groups' sizes and settings' types, and each moment's shape."""
    if not isinstance(sd, dict) or not isinstance(sd.get("state"), dict) or not isinstance(sd.get("param_groups"), list):
        raise _Bad(f"{where} is not an optimizer state (state and param_groups)")
    saved = sd["param_groups"]
    if len(saved) != len(groups) or not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in saved):
        raise _Bad(f"{where} has {len(saved)} parameter groups, its config gives {len(groups)}")
    shapes = {}
    for g, want in zip(saved, groups):
        if len(g["params"]) != len(want["params"]) or not all(_int(i) for i in g["params"]):
            raise _Bad(f"{where}: a group of {len(g['params'])} parameters where its config has {len(want['params'])}")
        shapes.update({i: p.shape for i, p in zip(g["params"], want["params"])})
        for k, v in want.items():
            if k != "params" and _num(v) and not (_num(g.get(k)) or _scalar(g.get(k))):  # tensor: an older GPU run's
                raise _Bad(f"{where} setting {k} is {g.get(k)!r}")
            if isinstance(v, tuple) and not (isinstance(g.get(k), (list, tuple)) and len(g[k]) == len(v)
                                             and all(_num(x) for x in g[k])):
                raise _Bad(f"{where} setting {k} is {g.get(k)!r}")
    for i, st in sd["state"].items():
        if i not in shapes or not isinstance(st, dict):
            raise _Bad(f"{where} holds state for parameter {i!r}, which its groups do not list")
        for k, t in st.items():
            if k == "step":
                if not (_num(t) or isinstance(t, torch.Tensor) and t.numel() == 1):
                    raise _Bad(f"{where} step of parameter {i} is {t!r}")
            elif not isinstance(t, torch.Tensor) or t.shape != shapes[i]:
                shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise _Bad(f"{where} {k} of parameter {i} has shape {shape}, its weight {tuple(shapes[i])}")
