"""Optimizers: RowAdam (lazy Adam for sparse embedding rows) and the training run's optimizer set."""
from __future__ import annotations

import math

import torch


def _adam_rows(w, g, m, v, step: torch.Tensor, lr: float, b1: float, b2: float, eps: float) -> None:
    """Adam on gathered rows, in place: PyTorch's fused CPU/CUDA kernel when there is one."""
    if w.device.type in ("cpu", "cuda") and hasattr(torch, "_fused_adam_"):
        try:
            torch._fused_adam_([w], [g], [m], [v], [], [step], lr=lr, beta1=b1, beta2=b2, weight_decay=0.0,
                               eps=eps, amsgrad=False, maximize=False)
            return
        except (RuntimeError, TypeError):
            pass
    t = float(step)
    m.lerp_(g, 1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    denom = (v.sqrt() / math.sqrt(1 - b2 ** t)).add_(eps)
    w.addcdiv_(m, denom, value=-lr / (1 - b1 ** t))


class RowAdam(torch.optim.Optimizer):
    """SparseAdam's rule (only the rows in the gradient move; one step count for bias correction), faster.

    A sparse gradient from nn.Embedding(sparse=True) lists every looked-up row, repeats included. Instead of
    coalescing it into a new sparse tensor per operation (SparseAdam), the rows are made unique once, their
    gradients summed with index_add, the weights and both moments gathered, updated by one fused Adam pass
    and scattered back."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        if lr <= 0 or eps <= 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError("RowAdam: lr and eps must be positive, betas in [0, 1)")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a (sparse) gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise ValueError("RowAdam takes sparse gradients; use AdamW for dense ones")
                st = self.state[p]
                if not st:
                    st["step"] = torch.zeros((), dtype=torch.float32)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                elif not isinstance(st["step"], torch.Tensor):  # a SparseAdam checkpoint counts in ints
                    st["step"] = torch.tensor(float(st["step"]), dtype=torch.float32)
                st["step"] += 1
                grad = p.grad
                idx, vals = grad._indices()[0], grad._values()  # (N,), (N, D)
                # unique sorted rows already (SparseRows; autograd drops the coalesced flag on the way)
                if grad.is_coalesced() or bool((idx[1:] > idx[:-1]).all()):
                    rows, gsum = idx, vals  # (U,), (U, D)
                else:
                    rows, inv = torch.unique(idx, return_inverse=True)  # (U,), (N,)
                    gsum = vals.new_zeros((rows.numel(),) + tuple(vals.shape[1:])).index_add_(0, inv, vals)  # (U, D)
                w, m, v = (t.index_select(0, rows) for t in (p, st["exp_avg"], st["exp_avg_sq"]))  # (U, D)
                _adam_rows(w, gsum, m, v, st["step"], group["lr"], b1, b2, group["eps"])
                for full, part in ((p, w), (st["exp_avg"], m), (st["exp_avg_sq"], v)):
                    full.index_copy_(0, rows, part)
        return loss


def optim_state(opt: torch.optim.Optimizer) -> dict:
    """opt.state_dict() with one-element tensor settings (a CUDA graph's lr) as numbers, so any device resumes it."""
    sd = opt.state_dict()
    sd["param_groups"] = [{k: v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v for k, v in g.items()}
                          for g in sd["param_groups"]]
    return sd


def build_optimizers(model, lr: float, weight_decay: float, device, capturable: bool = False) -> dict:
    """AdamW for the dense weights (decay on the hidden layers only) and RowAdam for sparse tables."""
    sparse, decay, no_decay = [], [], []
    for name, p in model.named_parameters():
        table = name.startswith(("C.", "out_emb", "out_bias"))
        if model.sparse and table:
            sparse.append(p)
        elif p.dim() >= 2 and not name.startswith(("C.", "out_emb")):
            decay.append(p)
        else:
            no_decay.append(p)
    kw = {"fused": True} if device.type in ("cuda", "cpu") else {}
    if capturable:
        kw["capturable"] = True
    opts = {"dense": torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                        {"params": no_decay, "weight_decay": 0.0}],
                                       lr=lr, betas=(0.9, 0.99), **kw)}
    if sparse:
        opts["sparse"] = RowAdam(sparse, lr=lr, betas=(0.9, 0.99))
    return opts
