"""One training step (gather, forward, backward, update), eager or captured as a CUDA graph, and the held-out loss."""
from __future__ import annotations

import torch

from .batch import Batcher
from .model import ContextMLP
from .runtime import Runtime


def clip_dense(model: ContextMLP, max_norm: float) -> None:
    """Clip the global norm of the dense gradients (0 = off)."""
    if max_norm > 0:
        dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
        torch.nn.utils.clip_grad_norm_(dense, max_norm)


class TrainStep:
    """The eager step: the host gathers this rank's windows and runs forward, backward and the optimizers."""

    autocast_cache = True

    def __init__(self, model: ContextMLP, fwd, batcher: Batcher, opts: dict, rt: Runtime, grad_clip: float,
                 rows: slice = slice(None)):
        self.model, self.fwd, self.batcher, self.opts, self.rt = model, fwd, batcher, opts, rt
        self.grad_clip, self.rows = grad_clip, rows  # rows: this rank's slice of the global batch

    def body(self, pos: torch.Tensor, neg: torch.Tensor | None, drop: torch.Tensor | None) -> torch.Tensor:
        """Windows at pos, forward, backward, clip, update; returns the loss (the graph records exactly this)."""
        dev = self.rt.device
        x, y = self.batcher.gather(pos)  # (B, T), (B,)
        x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
        drop = None if drop is None else drop.to(dev, non_blocking=True)  # (B, T)
        with self.rt.autocast(cache=self.autocast_cache):
            _, loss = self.fwd(x, y, neg, drop)
        loss.backward()
        clip_dense(self.model, self.grad_clip)
        for o in self.opts.values():
            o.step()
        return loss

    def __call__(self, pos: torch.Tensor, neg: torch.Tensor | None, drop: torch.Tensor | None,
                 lr: float) -> torch.Tensor:
        """One step on the global batch's positions pos (B,), noise words neg (K,) and word dropout draws drop
        (B, T) at learning rate lr; each rank takes its rows of pos and drop."""
        for o in self.opts.values():
            for g in o.param_groups:
                g["lr"] = lr
            o.zero_grad(set_to_none=True)
        return self.body(pos[self.rows], neg, None if drop is None else drop[self.rows])

    @property
    def graphed(self) -> bool:
        """Whether steps replay a captured CUDA graph."""
        return False


class GraphedStep(TrainStep):
    """The same body captured once as a CUDA graph and replayed: the host only copies in the positions, the
    noise words and the lr, so a step costs the GPU's time rather than ~100 kernel launches. One GPU, dense
    AdamW (capturable); falls back to eager steps with a warning if the capture fails."""

    WARMUP = 3  # eager steps on a side stream first (optimizer state, autograd buffers)
    autocast_cache = False

    def __init__(self, model: ContextMLP, batcher: Batcher, opt, rt: Runtime, batch: int, grad_clip: float,
                 log=print):
        super().__init__(model, model, batcher, {"dense": opt}, rt, grad_clip)
        dev, self.log = rt.device, log
        self.pos = torch.ones(batch, dtype=torch.long, device=dev)  # (B,) target positions
        self.neg = (torch.zeros(model.cfg.negatives, dtype=torch.long, device=dev)
                    if model.cfg.head in ("neg", "sampled") else None)  # (K,) noise words
        self.drop = (torch.zeros(batch, model.cfg.n_ctx, device=dev) if model.cfg.dropout > 0
                     else None)  # (B, T) word dropout's draws
        self.lr = torch.tensor(float(opt.param_groups[0]["lr"]), dtype=torch.float32, device=dev)
        for g in opt.param_groups:
            g["lr"] = self.lr
            g["capturable"] = True  # also when a resumed checkpoint came from an eager run
        self.loss = torch.zeros((), dtype=torch.float32, device=dev)
        self.graph, self.calls, self.failed = None, 0, False

    @property
    def graphed(self) -> bool:
        """Whether steps replay a captured CUDA graph."""
        return self.graph is not None

    def _record(self) -> None:
        self.loss.copy_(self.body(self.pos, self.neg, self.drop).detach())

    def __call__(self, pos: torch.Tensor, neg: torch.Tensor | None, drop: torch.Tensor | None,
                 lr: float) -> torch.Tensor:
        """Copy in this step's inputs, then replay (or warm up, or capture); returns the static loss tensor."""
        self.pos.copy_(pos)
        if neg is not None:
            self.neg.copy_(neg)
        if drop is not None:
            self.drop.copy_(drop)
        self.lr.fill_(lr)
        if self.graph is not None:
            self.graph.replay()
            return self.loss
        self.calls += 1
        opt, dev = self.opts["dense"], self.rt.device
        if self.failed or self.calls <= self.WARMUP:
            side = torch.cuda.Stream(dev)
            side.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(side):
                opt.zero_grad(set_to_none=True)
                self._record()
            torch.cuda.current_stream(dev).wait_stream(side)
            return self.loss
        graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        try:
            with torch.cuda.graph(graph):
                self._record()
        except Exception as e:  # capture refused (an op that syncs, say): keep training eagerly
            self.failed = True
            self.log(f"warning: CUDA graph capture failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                     f"training continues without it")
            torch.cuda.synchronize(dev)
            return self(pos, neg, drop, lr)
        self.graph = graph
        graph.replay()  # capture records without running: run this step
        return self.loss


@torch.no_grad()
def evaluate_loss(model: ContextMLP, batcher: Batcher, positions, rt: Runtime, batch: int = 4096) -> float:
    """Mean loss over fixed positions (neg and sampled heads: with a fixed noise sample)."""
    was, gen_saved = model.training, model.generator
    model.eval()
    if model.cfg.head in ("neg", "sampled"):
        model.generator = torch.Generator(device=model.noise.device).manual_seed(0)
    total, n = 0.0, 0
    for i in range(0, len(positions), batch):
        pos = positions[i:i + batch]
        x, y = batcher.gather(pos)  # (b, T), (b,)
        with rt.autocast():
            _, loss = model(x.to(rt.device), y.to(rt.device))
        total += float(loss) * len(pos)
        n += len(pos)
    model.generator = gen_saved
    model.train(was)
    return total / max(n, 1)
