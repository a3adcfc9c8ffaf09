"""New text from a left-window model (makemore's names), each marked as seen in training or new."""
from __future__ import annotations

import sys

import torch

from .config import RunConfig
from .corpus import prepare
from .errors import WordmoreError
from .model import ContextMLP
from .vocab import Vocab


def check_samplable(model: ContextMLP, cfg: RunConfig) -> None:
    """Only a left-window model with a normalised head gives text token by token."""
    if cfg.model.window != "left" or not model.normalised():
        raise WordmoreError("sampling needs a left-window model with a softmax or adaptive head")


def sample_units(model: ContextMLP, vocab: Vocab, cfg: RunConfig, n: int, temperature: float = 1.0,
                 seed: int = 0, max_len: int = 200) -> list[str]:
    """n units drawn token by token until the boundary, at a temperature."""
    check_samplable(model, cfg)
    g = torch.Generator().manual_seed(seed)
    b, sep = vocab.boundary_id, "" if cfg.tokenizer.level == "char" else " "
    units = []
    for _ in range(n):
        ctx, out = [b] * cfg.model.context, []
        for _ in range(max_len):
            lp = model.log_probs(torch.tensor([ctx]))[0] / temperature  # (V,)
            nxt = int(torch.multinomial(torch.softmax(lp, -1), 1, generator=g))
            if nxt == b:
                break
            out.append(nxt)
            ctx = ctx[1:] + [nxt]
        units.append(sep.join(vocab.decode(out)))
    return units


def training_units(cfg: RunConfig, vocab: Vocab) -> set[str] | None:
    """The training split's units as strings (to mark memorised samples); None when the corpus is gone."""
    try:
        corpus = prepare(cfg.data, cfg.tokenizer, log=lambda *a: None)
    except WordmoreError as e:
        print(f"note: training set not available to compare samples ({e})", file=sys.stderr)
        return None
    sep = "" if cfg.tokenizer.level == "char" else " "
    units, cur = set(), []
    for i in corpus.splits["train"].tolist():
        if i == vocab.boundary_id:
            if cur:
                units.add(sep.join(vocab.decode(cur)))
            cur = []
        else:
            cur.append(i)
    return units
