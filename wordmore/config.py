"""Configuration: the model's and the run's dataclasses, the level presets, resolve_config(), validate(). No torch."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from .source import DataConfig, canonical
from .errors import WordmoreError
from .options import INTERNAL, SEED_MAX, check_fields, opt
from .vocab import TokenizerConfig

Level = Literal["char", "word"]
Window = Literal["left", "both"]
Head = Literal["softmax", "adaptive", "neg", "sampled"]
Precision = Literal["auto", "bf16", "fp32"]
Vectors = Literal["input", "joined"]


@dataclass
class ModelConfig:
    """Shape of the network (Bengio et al. 2003 as in makemore); vocab_size is filled in from the data."""

    vocab_size: int = field(default=0, metadata=INTERNAL)
    context: int = opt(3, "tokens on each used side of the target", min=1, max=256)
    window: Window = opt("left", "left: a language model (makemore); both: the words on both sides of the target")
    n_embd: int = opt(10, "embedding width (columns of the table C)", min=1, max=65536)
    n_hidden: int = opt(200, "tanh hidden units", min=1, max=65536)
    n_layer: int = opt(1, "tanh hidden layers", min=1, max=64)
    head: Head = opt("softmax", "output layer: softmax (full), adaptive (adaptive softmax), neg (word2vec's "
                     "negative sampling) or sampled (sampled softmax)")
    cutoffs: list = opt([2000, 10000], "adaptive head: cluster boundaries", min=1, heads=("adaptive",))
    div_value: float = opt(4.0, "adaptive head: width divisor between clusters", gt=0.0, heads=("adaptive",))
    negatives: int = opt(256, "neg and sampled heads: noise words shared by the batch", min=1, max=1 << 20,
                         heads=("neg", "sampled"))
    neg_weight: float = opt(5.0, "neg head: total weight of the noise terms per example", gt=0.0, heads=("neg",))
    emb_init: float = opt(0.01, "std of the table C at init: small, so Adam-sized updates move it", gt=0.0)
    dropout: float = opt(0.0, "while training, drop each window word with this chance (its embedding zeroed, the "
                         "others scaled up)", min=0.0, lt=1.0)
    direct: bool = opt(False, "Bengio's direct connections: a linear path from the window to the output")
    tie: bool = opt(False, "one table for context and predicted words (Press & Wolf 2017); needs --n-embd = --n-hidden")
    vectors: Vectors = opt("input", "the word vectors a run writes: input (the table C) or joined (C read through the "
                           "first layer, averaged over the window, beside the output table where it is one of its "
                           "own, not tied or adaptive; each centred, its top direction removed, its rows set to "
                           "unit length)")
    cross: float = opt(0.0, "joined vectors: weight of the cross terms, where one word's context row meets the other's "
                       "output row (a.a' + b.b' + cross (a.b' + b.a'); 1 = the cosine of their sums, Levy et al. 2015)",
                       min=0.0, max=1.0)

    @property
    def n_ctx(self) -> int:
        """Tokens in one window."""
        return self.context * (2 if self.window == "both" else 1)

    def validate(self) -> "ModelConfig":
        """Fields within their choices and limits, and the rules between them; raises WordmoreError."""
        check_fields(self)
        why = self.conflict()
        if why:
            raise WordmoreError(why)
        return self

    def conflict(self) -> str | None:
        """Why these fields cannot hold together (None when they can): the rules, in one place."""
        if self.tie and self.head == "adaptive":
            return "--tie needs a head with a row per word: not --head adaptive"
        if self.tie and self.n_embd != self.n_hidden:
            return f"--tie needs --n-embd equal to --n-hidden (got {self.n_embd} and {self.n_hidden})"
        if self.head == "adaptive" and list(self.cutoffs) != sorted(set(self.cutoffs)):
            return f"--cutoffs must rise, each cluster boundary above the last (got {' '.join(map(str, self.cutoffs))})"
        return None


@dataclass
class TrainConfig:
    """Optimisation and run bookkeeping."""

    level: Level = field(default="char", metadata={**INTERNAL, "help": "only changes tokenization and the preset"})
    out: str = opt("", "run directory (default runs/<level>-<dataset>)")
    device: str = opt("auto", "auto | cpu | cuda | cuda:N | mps (auto: cuda, then mps, then cpu)")
    seed: int = opt(42, "seed of the weights, the batches and the noise words", min=0, max=SEED_MAX)
    batch_size: int = opt(64, "targets per step (split across processes under torchrun)", min=1, max=1 << 24)
    lr: float = opt(3e-3, "peak learning rate (Adam)", gt=0.0)
    min_lr_frac: float = opt(0.05, "the cosine decay ends at lr * this", min=0.0, lt=1.0)
    warmup: int = opt(100, "steps of linear warmup", min=0)
    weight_decay: float = opt(0.01, "AdamW weight decay of the hidden layers", min=0.0)
    grad_clip: float = opt(1.0, "clip the dense gradients' global norm (0 = off)", min=0.0)
    epochs: float = opt(0.0, "length in passes over the training split, fractions allowed (0 = --tokens or "
                        "--max-steps)", min=0.0)
    tokens: int = opt(0, "length in training targets (0 = --epochs or --max-steps)", min=0)
    max_steps: int = opt(20000, "optimizer steps; beside --epochs or --tokens, a cap (0 = none)", min=0)
    minutes: float = opt(0.0, "wall-clock budget counted from the first step (0 = none): stops cleanly with a "
                         "checkpoint; the word demo (no --dataset and no length given) has one", min=0.0)
    stop_after: int = opt(0, "stop with a checkpoint after this step, keeping the schedule (0 = off)", min=0)
    eval_every: int = opt(0, "steps between validation losses (0 = 20 evaluations a run)", min=0)
    eval_tokens: int = opt(50000, "validation positions per evaluation (a fixed sample)", min=1, max=1 << 24)
    ckpt_every: int = opt(5000, "steps between checkpoints", min=1)
    subsample: float = opt(0.0, "word2vec subsampling threshold for training targets (0 = off)", min=0.0)
    subsample_context: float = opt(0.0, "word2vec subsampling threshold for the text the context windows read: "
                                   "dropped words close up, so windows reach past them (0 = off)", min=0.0)
    compile: bool = opt(False, "torch.compile the model")
    cuda_graph: bool = opt(True, "one CUDA GPU: capture the whole step once as a CUDA graph and replay it")
    dropout_passes: float = opt(0.0, "a run expected to make fewer passes over its text than this gets that share of "
                                "--dropout (under --minutes: the passes the budget allows at the speed of the first "
                                "steps); 0 = --dropout on every run", min=0.0)
    expected_passes: float = field(default=0.0, metadata=INTERNAL)  # set by the trainer, kept in the checkpoint
    precision: Precision = opt("auto", "auto = bf16 autocast on CUDA and on CPUs with native bf16, else fp32")
    resume: bool = opt(False, "continue the checkpoint in --out exactly")
    overwrite: bool = opt(False, "start again over an existing run")


SECTIONS = {"train": TrainConfig, "data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig}

# level-specific defaults: the only place they live
PRESETS = {
    "char": {
        "data": {"dataset": "names", "min_count": 1},
        "tokenizer": {"lowercase": True, "punct": False},
        "model": {"context": 8, "window": "left", "n_embd": 24, "n_hidden": 256, "n_layer": 1,
                  "head": "softmax", "emb_init": 0.1},
        "train": {"batch_size": 256, "lr": 3e-3, "max_steps": 40000, "precision": "fp32",
                  "warmup": 200, "weight_decay": 0.05},
    },
    "word": {  # the same on every device
        "data": {"dataset": "fairy", "min_count": 5, "max_vocab": 30000, "val_frac": 0.02, "test_frac": 0.02},
        "tokenizer": {"lowercase": True, "punct": False},
        "model": {"context": 4, "window": "both", "n_embd": 100, "n_hidden": 100, "n_layer": 1,
                  "head": "sampled", "emb_init": 0.01, "negatives": 512, "direct": True, "vectors": "joined",
                  "cross": 0.2, "dropout": 0.3},
        "train": {"batch_size": 8192, "lr": 1e-2, "epochs": 11.5, "max_steps": 0, "minutes": 9.0, "precision": "auto",
                  "eval_tokens": 20000, "subsample": 1e-4, "subsample_context": 1e-3,
                  "warmup": 200, "weight_decay": 0.0, "grad_clip": 0.0, "ckpt_every": 1000, "dropout_passes": 11.5},
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
        return {name: asdict(getattr(self, name)) for name in SECTIONS}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Inverse of to_dict; unknown keys (from older versions) are ignored."""
        def make(kls, sub):
            names = {f.name for f in fields(kls)}
            return kls(**{k: v for k, v in (sub or {}).items() if k in names})
        return cls(**{name: make(kls, d.get(name)) for name, kls in SECTIONS.items()})

    def run_dir(self) -> Path:
        """The run directory: --out, or runs/<level>-<dataset>."""
        return Path(self.train.out or f"runs/{self.train.level}-{Path(self.data.dataset).name or 'corpus'}")

    def validate(self) -> "RunConfig":
        """Every field within its limits and choices, and the rules between fields; raises WordmoreError."""
        for section in ("train", "data", "tokenizer"):
            check_fields(getattr(self, section))
        t = self.train
        if t.epochs > 0 and t.tokens > 0:
            raise WordmoreError("give the length once: --epochs or --tokens, not both")
        if not (t.epochs or t.tokens or t.max_steps):
            raise WordmoreError("no length: give --epochs, --tokens or --max-steps")
        why = self.data.conflict()
        if why:
            raise WordmoreError(why)
        self.model.validate()
        return self


def resolve_config(level: str, overrides: dict) -> RunConfig:
    """Dataclass defaults, the level preset, then explicit overrides."""
    if level not in PRESETS:
        raise WordmoreError(f"unknown level {level!r}: choose char or word")
    d = {s: {} for s in SECTIONS}
    for s, vals in PRESETS[level].items():
        d[s].update(vals)
    for s, vals in overrides.items():
        d[s].update(vals)
    d["train"]["level"] = d["tokenizer"]["level"] = level
    cfg = RunConfig.from_dict(d)
    cfg.data.dataset = canonical(cfg.data.dataset)
    _length_rules(cfg.train, overrides.get("train", {}), "dataset" in overrides.get("data", {}))
    m = cfg.model
    one = ("--vectors input" if m.vectors == "input" else "--tie" if m.tie else
           "--head adaptive" if m.head == "adaptive" else "")  # one table: no cross terms
    if overrides.get("model", {}).get("cross") and one:
        raise WordmoreError(f"--cross weighs the cross terms of two joined tables: with {one} there is one table, "
                            f"so it would do nothing (drop --cross)")
    for f in fields(ModelConfig):  # a flag that only some output layers read (its field's heads), given for another
        heads = f.metadata.get("heads")
        if heads and f.name in overrides.get("model", {}) and m.head not in heads:
            raise WordmoreError(f"--{f.name.replace('_', '-')} is for --head {' or '.join(heads)}: with --head "
                                f"{m.head} it would do nothing (drop it)")
    return cfg


def _length_rules(t: TrainConfig, given: dict, own_data: bool) -> None:
    """A length given by hand replaces the preset's; the preset's time budget belongs to the demo alone."""
    if "max_steps" in given and not ({"epochs", "tokens"} & set(given)):
        t.epochs, t.tokens = 0.0, 0
    if "epochs" in given and "tokens" not in given:
        t.tokens = 0
    if "tokens" in given and "epochs" not in given:
        t.epochs = 0.0
    if "minutes" not in given and (own_data or {"max_steps", "epochs", "tokens"} & set(given)):
        t.minutes = 0.0


def planned_steps(t: TrainConfig, n_train: int) -> int:
    """The run's length in steps: from --epochs or --tokens (capped by --max-steps when set), else --max-steps."""
    import math
    if t.epochs > 0:
        n = math.ceil(t.epochs * n_train / t.batch_size)
    elif t.tokens > 0:
        n = math.ceil(t.tokens / t.batch_size)
    else:
        n = t.max_steps
    return max(1, min(n, t.max_steps) if t.max_steps > 0 else n)


def run_warnings(cfg: RunConfig, plan: int) -> list[str]:
    """What a run's flags will do that their user may not expect, each a line to print before training."""
    t, m, out = cfg.train, cfg.model, []
    if m.tie and not m.direct and m.head == "sampled":
        out.append("--tie without --direct did not train in our runs of the sampled head (the loss stays near "
                   "chance and every word vector points one way); add --direct or drop --tie")
    if t.warmup > plan:
        out.append(f"--warmup {t.warmup:,} is longer than this run's {plan:,}-step plan: the learning rate never "
                   f"reaches --lr {t.lr:g} (give a smaller --warmup)")
    if m.head in ("neg", "sampled") and 0 < m.vocab_size <= m.negatives:
        out.append(f"--negatives {m.negatives:,} is not below the vocabulary's {m.vocab_size:,} words: the noise words "
                   f"are drawn with replacement, so they repeat, and the step costs as much as a full softmax or more "
                   f"(give fewer, or --head softmax)")
    if t.stop_after > plan:
        out.append(f"--stop-after {t.stop_after:,} is beyond this run's {plan:,}-step plan: it ends at the plan")
    return out


def lr_at(t: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup, then cosine decay to lr * min_lr_frac as progress goes 0 -> 1."""
    import math
    if step < t.warmup:
        return t.lr * (step + 1) / t.warmup
    p = min(max(progress, 0.0), 1.0)
    return t.lr * (t.min_lr_frac + (1 - t.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def expected_passes(t: TrainConfig, plan: int, n_train: int, step: int, elapsed: float,
                    probe: tuple[int, float] | None = None) -> float:
    """The passes over its text a run is expected to make: its plan's; under a time budget, those the budget allows
    at the speed since probe (step, elapsed), once max(warmup, 20) // 2 steps past it (0 before: undecided)."""
    if not t.minutes:
        return plan * t.batch_size / n_train
    if probe is None or step - probe[0] < max(t.warmup, 20) // 2:
        return 0.0
    speed = (step - probe[0]) / max(elapsed - probe[1], 1e-9)  # steps/s, start-up (compile, capture) left out
    steps = min(plan, step + (t.minutes * 60 * 0.97 - elapsed) * speed)
    return max(0.01, round(steps * t.batch_size / n_train, 2))  # rounded: every rank the same; never 0 once decided


class PassEstimate:
    """Keeps train.expected_passes: the plan's passes; under a time budget, those the budget allows at the speed
    measured from max(warmup, 20) // 2 steps after the start, and measured again over a longer stretch at 10 % and
    25 % of the budget, since a shared host's speed drifts (a slow first minute once gave 1.69 passes for 4)."""

    RECHECK = (0.10, 0.25)  # shares of the budget

    def __init__(self, t: TrainConfig, plan: int, n_train: int, start_step: int, elapsed: float):
        self.t, self.plan, self.n_train, self.first = t, plan, n_train, True
        self.probe_step, self.probe = start_step + max(t.warmup, 20) // 2, None
        self.rechecks = [f * t.minutes * 60 for f in self.RECHECK if f * t.minutes * 60 > elapsed] if t.minutes else []

    def update(self, step: int, elapsed: float) -> bool:
        """Decide or revise t.expected_passes when due; True when the rate may have changed (and on the first call)."""
        t, first = self.t, self.first
        self.first = False
        if step == self.probe_step:
            self.probe = (step, elapsed)
        recheck = bool(t.expected_passes and self.rechecks and elapsed >= self.rechecks[0])
        if recheck:
            self.rechecks = [r for r in self.rechecks if r > elapsed]
        if t.expected_passes and not recheck:
            return first
        new = expected_passes(t, self.plan, self.n_train, step, elapsed, self.probe)
        changed = bool(new) and new != t.expected_passes
        if changed:
            t.expected_passes = new
        return first or changed


def dropout_at(cfg: RunConfig) -> float:
    """This run's word dropout: --dropout, or with --dropout-passes the share the run's expected passes earn."""
    t = cfg.train
    if t.dropout_passes <= 0:
        return cfg.model.dropout
    return cfg.model.dropout * min(1.0, t.expected_passes / t.dropout_passes)
