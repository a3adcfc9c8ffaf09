"""The context-window MLP of Bengio et al. 2003 ("A Neural Probabilistic Language Model", JMLR 3), as in makemore."""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig


class SampledSoftmaxLoss(torch.autograd.Function):
    """Cross-entropy with the target's logit pos (B,) in front of its K noise words' logits s + c, where
    s (B, K) are the scores from the matmul (bf16 under autocast) and c (K,) the noise words' offsets; noise
    words equal to a row's target (accidental hits) are left out. Fewer passes over (B, K) than cast + add +
    cat + log_softmax + nll, and the gradient of s comes back in s's dtype, ready for the matmul's backward."""

    @staticmethod
    def forward(ctx, pos, s, c, targets, neg):
        t = mask_hits(torch.add(s, c), targets, neg, float("-inf"))  # (B, K) fp32
        m = torch.maximum(t.amax(1), pos)  # (B,)
        e = t.sub_(m[:, None]).exp_()  # (B, K) in place: exp(logit - max)
        ep = torch.exp(pos - m)  # (B,)
        se = e.sum(1) + ep  # (B,)
        ctx.save_for_backward(e, ep, se)
        ctx.s_dtype = s.dtype
        return (m + se.log() - pos).mean()

    @staticmethod
    def backward(ctx, g):
        e, ep, se = ctx.saved_tensors
        k = g / se.shape[0]
        w = k / se  # (B,)
        ds = torch.empty(e.shape, dtype=ctx.s_dtype, device=e.device)
        torch.mul(e, w[:, None], out=ds)  # (B, K): softmax over the noise words, scaled, cast in the same pass
        return ep * w - k, ds, ds.sum(0, dtype=torch.float32), None, None


def mask_hits(logits: torch.Tensor, targets: torch.Tensor, neg: torch.Tensor, fill: float) -> torch.Tensor:
    """logits (B, K) with fill where noise word neg[k] is the row's target (an accidental hit).

    On the CPU the few hits are found by binary search in the sorted noise words, since a dense (B, K)
    comparison and masked_fill cost more than the matmul; elsewhere a dense mask (no host sync, so CUDA
    graphs can capture it)."""
    if logits.device.type != "cpu":
        return logits.masked_fill(neg[None, :] == targets[:, None], fill)  # (B, K)
    srt, order = neg.sort()  # (K,)
    lo = torch.searchsorted(srt, targets)  # (B,)
    n = torch.searchsorted(srt, targets, right=True) - lo  # (B,) hits per row, mostly 0
    rows = torch.repeat_interleave(n)  # (M,)
    first = torch.cumsum(n, 0) - n  # (B,)
    cols = order[lo[rows] + torch.arange(rows.numel()) - first[rows]]  # (M,)
    return logits.index_put_((rows, cols), torch.tensor(fill, dtype=logits.dtype))  # in place: a fresh sum


def unique_rows(idx: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.unique(idx, return_inverse=True) for indices into a table of n_rows: by marking a table-sized
    mask when idx is long against the table (linear time, no sort), else by sorting."""
    if idx.numel() * 8 < n_rows:
        return torch.unique(idx, return_inverse=True)
    seen = torch.zeros(n_rows, dtype=torch.bool, device=idx.device)
    seen[idx] = True
    rows = seen.nonzero().squeeze(1)  # (U,) ascending
    slot = torch.cumsum(seen, 0) - 1  # (n_rows,) position of each row among the unique ones
    return rows, slot[idx]


class SparseRows(torch.autograd.Function):
    """weight[idx] for a table with sparse gradients: each distinct row is read once, and the gradient is
    summed per row in the backward pass, so it comes back coalesced (sorted unique rows) and the optimizer
    (RowAdam) needs no sort of its own. dtype: cast the distinct rows before expanding them (bf16 matmuls).
    keep (idx's shape, bool): positions where it is False read a zero row instead (word dropout)."""

    chunk = 4096  # rows of the gradient cast and summed at a time: a part that stays in cache

    @staticmethod
    def forward(ctx, weight: torch.Tensor, idx: torch.Tensor, dtype: torch.dtype | None,
                keep: torch.Tensor | None = None):
        rows, inv = unique_rows(idx.reshape(-1), weight.shape[0])  # (U,) sorted, (N,)
        part = weight.index_select(0, rows)  # (U, D)
        if dtype is not None:
            part = part.to(dtype)
        if keep is not None:  # dropped positions read row U, zeros
            part = torch.cat([part, part.new_zeros(1, part.shape[1])])  # (U+1, D)
            inv = torch.where(keep.reshape(-1), inv, rows.numel())  # (N,)
        ctx.save_for_backward(rows, inv)
        ctx.size, ctx.wdtype, ctx.n = weight.shape, weight.dtype, part.shape[0]
        return part.index_select(0, inv).view(*idx.shape, -1)  # (*idx, D)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        rows, inv = ctx.saved_tensors
        g = grad.reshape(inv.numel(), -1)  # (N, D)
        total = sum_rows(g, inv, ctx.n, ctx.wdtype)[:rows.numel()]  # (U, D), without the zero row
        grad_w = torch.sparse_coo_tensor(rows[None], total, ctx.size, is_coalesced=True, check_invariants=False)
        return grad_w, None, None, None


def sum_rows(g: torch.Tensor, inv: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """(n, D) in dtype: row i the sum of the rows of g (N, D) where inv == i. On the CPU in fp32 as one sparse
    (CSR) matrix product, which runs on every core, where index_add goes row by row; else index_add, casting
    a cache-sized part at a time."""
    if g.device.type == "cpu" and g.dtype == dtype == torch.float32:
        col = torch.argsort(inv, stable=True)  # (N,) the positions of each row's entries, row by row
        crow = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(torch.bincount(inv, minlength=n), 0, out=crow[1:])  # (n+1,)
        with warnings.catch_warnings(), torch.autocast("cpu", enabled=False):  # fp32 (no bf16 CSR kernel)
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            ones = torch.sparse_csr_tensor(crow, col, torch.ones(inv.numel(), dtype=g.dtype), (n, inv.numel()))
            return ones @ g  # (n, D)
    total = torch.zeros(n, g.shape[1], dtype=dtype, device=g.device)  # (n, D)
    step = SparseRows.chunk if g.dtype != dtype else g.shape[0]
    for i in range(0, g.shape[0], step):
        total.index_add_(0, inv[i:i + step], g[i:i + step].to(dtype))
    return total


class ContextMLP(nn.Module):
    """Embed a window of tokens, concatenate, tanh hidden layer(s), predict the target token."""

    def __init__(self, cfg: ModelConfig, sparse: bool = False):
        """sparse: sparse gradients for the large tables (word level on one CPU process, with RowAdam)."""
        super().__init__()
        self.cfg = cfg.validate()
        self.sparse = sparse
        V, D, H = cfg.vocab_size, cfg.n_embd, cfg.n_hidden
        self.C = nn.Embedding(V, D, sparse=sparse)
        nn.init.normal_(self.C.weight, std=cfg.emb_init)
        layers, fan_in = [], cfg.n_ctx * D
        for _ in range(cfg.n_layer):
            lin = nn.Linear(fan_in, H)
            nn.init.normal_(lin.weight, std=(5 / 3) / fan_in ** 0.5)  # kaiming for tanh
            nn.init.zeros_(lin.bias)
            layers += [lin, nn.Tanh()]
            fan_in = H
        self.hidden = nn.Sequential(*layers)
        self.direct = nn.Linear(cfg.n_ctx * D, H, bias=False) if cfg.direct else None
        if self.direct is not None:
            nn.init.normal_(self.direct.weight, std=1.0 / (cfg.n_ctx * D) ** 0.5)
        self.generator: torch.Generator | None = None  # used by the neg head for noise samples
        # this step's word dropout (<= cfg.dropout; the trainer may ramp it): a tensor, so a CUDA graph reads it
        self.register_buffer("word_dropout", torch.tensor(float(cfg.dropout)), persistent=False)
        if cfg.head == "softmax":
            self.out = nn.Linear(H, V)
            nn.init.normal_(self.out.weight, std=0.01 / H ** 0.5)  # not over-confident at init
            nn.init.zeros_(self.out.bias)
            if cfg.tie:
                self.out.weight = self.C.weight  # (V, D) shared
        elif cfg.head == "adaptive":
            cut = [c for c in cfg.cutoffs if 0 < c < V - 1]
            if not cut:
                cut = [max(1, V // 2)] if V > 2 else []
            if not cut:
                raise ValueError("adaptive softmax needs a vocabulary of at least 3 entries")
            self.out = nn.AdaptiveLogSoftmaxWithLoss(H, V, cutoffs=cut, div_value=cfg.div_value)
        elif cfg.head in ("neg", "sampled"):
            if cfg.tie:
                self.out_emb = self.C  # the same rows predict and are predicted
            else:
                self.out_emb = nn.Embedding(V, H, sparse=sparse)
                nn.init.zeros_(self.out_emb.weight)
            self.out_bias = nn.Embedding(V, 1, sparse=sparse)
            nn.init.zeros_(self.out_bias.weight)
            self.register_buffer("noise", torch.ones(V), persistent=False)

    def set_noise(self, counts) -> None:
        """Noise distribution of the neg head: unigram counts ** 0.75 (word2vec)."""
        if self.cfg.head in ("neg", "sampled"):
            c = torch.as_tensor(counts, dtype=torch.float64).clamp_min(0) ** 0.75
            c[0] = 0.0 if c[1:].sum() > 0 else 1.0  # never draw the boundary as noise
            self.noise = (c / c.sum()).float().to(self.noise.device)

    def word_tables(self) -> list[torch.Tensor]:
        """The per-word tables: C, then the output rows when they are a table of their own."""
        out = self.out_emb if self.cfg.head in ("neg", "sampled") else self.out
        w = getattr(out, "weight", None)  # (V, H); the adaptive head has no row per word
        return [self.C.weight] + ([w] if w is not None and w is not self.C.weight else [])

    def window_map(self) -> torch.Tensor:
        """(D, H): how the first layer reads one window word, the linear maps of its tanh path and direct path
        averaged over the window positions; C @ this is the table C in the space of the output rows."""
        T, D = self.cfg.n_ctx, self.cfg.n_embd
        w = self.hidden[0].weight  # (H, T*D)
        if self.direct is not None:
            w = w + self.direct.weight
        return w.reshape(-1, T, D).mean(1).t()  # (D, H)

    def joined_tables(self) -> list[torch.Tensor]:
        """The tables joined vectors are made of: C read through window_map, beside the output rows when
        they are a table of their own (both of word2vec's tables, as in Levy et al. 2015; here in one space)."""
        tables = self.word_tables()
        return tables if len(tables) == 1 else [tables[0] @ self.window_map(), tables[1]]  # (V, H) each

    def rows(self, table: nn.Embedding, idx: torch.Tensor, dtype: torch.dtype | None = None,
             keep: torch.Tensor | None = None) -> torch.Tensor:
        """table(idx), in dtype when given, zeros where keep is False; dense tables gather with index_select,
        whose backward (index_add) never syncs; sparse ones with SparseRows, whose gradient comes back summed
        per row."""
        if table.sparse and torch.is_grad_enabled() and table.weight.requires_grad:
            return SparseRows.apply(table.weight, idx, dtype, keep)  # (*idx, D)
        out = table.weight.index_select(0, idx.reshape(-1)).view(*idx.shape, -1)  # (*idx, D)
        if keep is not None:
            out = out * keep.unsqueeze(-1)  # (*idx, D)
        return out if dtype is None else out.to(dtype)

    def features(self, idx: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden activations for windows idx; drop (like idx): word dropout's uniform draws (made here when None)."""
        dev = idx.device.type
        mm_dtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else None  # what F.linear reads
        keep = None
        if self.training and self.cfg.dropout > 0:  # word dropout: whole window words, one draw per word
            u = torch.rand(idx.shape, device=idx.device) if drop is None else drop  # (B, T)
            keep = u >= self.word_dropout  # (B, T)
        x = self.rows(self.C, idx, mm_dtype, keep).flatten(1)  # (B, T*D), dropped words zero
        first, H = self.hidden[0], self.cfg.n_hidden
        w, b = first.weight, first.bias  # (H, T*D), (H,)
        if self.direct is not None:  # the linear path, y = U tanh(Hx + d) + U P x: one matmul for H and P
            w = torch.cat([w, self.direct.weight])  # (2H, T*D)
            b = torch.cat([b, torch.zeros_like(b)])  # (2H,)
        if keep is not None:  # the kept words scaled up by 1/(1-p), on the weights rather than the (B, T*D) input
            w = w / (1 - self.word_dropout)
        z = F.linear(x, w, b)  # (B, H) or (B, 2H)
        if self.direct is None:
            return self.hidden[1:](z)  # (B, H)
        a, d = z.split(H, 1)  # (B, H) each; split's backward writes one (B, 2H) gradient, slicing's two zeroed ones
        return self.hidden[1:](a) + d  # (B, H)

    def sample_noise(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """The noise words shared by a batch (neg and sampled heads), (K,)."""
        return torch.multinomial(self.noise, self.cfg.negatives, replacement=True, generator=generator)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, neg: torch.Tensor | None = None,
                drop: torch.Tensor | None = None):
        """Returns (logits or None, mean loss or None); logits only for the softmax head.

        neg: the noise words of the neg/sampled heads; drawn with self.generator when not given.
        drop: word dropout's draws for the windows (see features)."""
        h = self.features(idx, drop)  # (B, H)
        if self.cfg.head == "softmax":
            logits = self.out(h)  # (B, V)
            loss = None if targets is None else F.cross_entropy(logits.float(), targets)
            return logits, loss
        if targets is None:
            return None, None
        if self.cfg.head == "adaptive":  # its index_copy needs one dtype: run it outside autocast
            with torch.autocast(device_type=h.device.type, enabled=False):
                return None, self.out(h.float(), targets).loss
        # negative sampling: one logistic loss for the target, shared noise words for the batch
        neg = self.sample_noise(self.generator) if neg is None else neg  # (K,)
        K = neg.shape[0]
        B = targets.shape[0]
        both = torch.cat([targets, neg])  # (B+K,) one gather per table for targets and noise words
        w_pos, w_neg = self.rows(self.out_emb, both).split([B, K])  # (B, H), (K, H)
        b_pos, b_neg = self.rows(self.out_bias, both).squeeze(-1).split([B, K])  # (B,), (K,)
        pos = (h * w_pos).sum(-1).float() + b_pos  # (B,)
        if self.cfg.head == "sampled":  # sampled softmax (Jean et al. 2015), corrected by log(K q(w))
            logq = torch.log(self.noise * K + 1e-12)  # (V,)
            return None, SampledSoftmaxLoss.apply(pos - logq[targets], h @ w_neg.t(), b_neg - logq[neg], targets, neg)
        negl = torch.add(h @ w_neg.t(), b_neg)  # (B, K) fp32: the cast and the bias in one pass
        negl = mask_hits(negl, targets, neg, -30.0)  # a noise word equal to the target is no negative
        loss = F.softplus(-pos) + F.softplus(negl).mean(-1) * self.cfg.neg_weight  # (B,)
        return None, loss.mean()

    @torch.no_grad()
    def log_probs(self, idx: torch.Tensor) -> torch.Tensor:
        """Normalised log-probabilities of the next token, (B, V); softmax and adaptive heads."""
        h = self.features(idx)
        if self.cfg.head == "softmax":
            return F.log_softmax(self.out(h).float(), -1)
        if self.cfg.head == "adaptive":
            with torch.autocast(device_type=h.device.type, enabled=False):
                return self.out.log_prob(h.float())
        raise ValueError("the neg head gives no normalised probabilities")

    def normalised(self) -> bool:
        """Whether the loss is a cross-entropy over the whole vocabulary."""
        return self.cfg.head in ("softmax", "adaptive")

    def matmul_flops_per_token(self) -> int:
        """Multiply-add FLOPs of the matrix work per training token (forward + backward = 3x forward)."""
        c = self.cfg
        f = c.n_ctx * c.n_embd * c.n_hidden * (2 if c.direct else 1) + (c.n_layer - 1) * c.n_hidden ** 2
        if c.head == "softmax":
            f += c.n_hidden * c.vocab_size
        elif c.head in ("neg", "sampled"):
            f += c.n_hidden * (c.negatives + 1)
        else:
            f += c.n_hidden * (c.cutoffs[0] + len(c.cutoffs)) if c.cutoffs else c.n_hidden * c.vocab_size
        return 2 * 3 * f
