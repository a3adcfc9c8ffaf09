"""Training batches: context windows over an id stream, word2vec subsampling and thinning."""
from __future__ import annotations

import numpy as np

from .errors import WordmoreError

MIN_ACCEPT = 1e-4  # subsampling that keeps fewer targets than this is refused (the sampler would spin)


def window_offsets(context: int, window: str) -> list[int]:
    """Relative positions of the context tokens around target position 0."""
    if window == "left":
        return list(range(-context, 0))
    if window == "both":
        return list(range(-context, 0)) + list(range(1, context + 1))
    raise WordmoreError(f"unknown window {window!r}: choose left or both")


def mask_boundaries(ctx, boundary: int, n_left: int):
    """Blank context tokens that lie beyond a boundary token, so windows never cross units."""
    import torch
    is_b = ctx == boundary  # (B, T)
    left, right = is_b[:, :n_left], is_b[:, n_left:]
    # left side: anything before the last boundary becomes boundary
    after = torch.flip(torch.cumsum(torch.flip(left.int(), [1]), 1), [1]) - left.int()  # boundaries strictly after
    # right side: anything after the first boundary becomes boundary
    before = torch.cumsum(right.int(), 1) - right.int()
    mask = torch.cat([after > 0, before > 0], 1)  # (B, T)
    return ctx.masked_fill(mask, boundary)


class Batcher:
    """Random (context, target) batches from one split's id stream, on CPU (memmap) or on the device."""

    def __init__(self, stream: np.ndarray, boundary: int, context: int, window: str, device="cpu",
                 keep_prob=None):
        import torch
        self.n = len(stream)
        self.boundary = boundary
        self.offsets = window_offsets(context, window)
        self.n_left = context
        self.device = torch.device(device)
        if self.device.type == "cpu":
            self.stream = stream  # memory-mapped, read per batch
        else:
            self.stream = torch.from_numpy(np.asarray(stream, dtype=np.int32)).to(self.device)
        self.off = torch.tensor(self.offsets, device=self.device)
        self.keep = None if keep_prob is None else torch.as_tensor(keep_prob, dtype=torch.float32, device=self.device)
        if self.keep is not None:
            self._check_acceptance(stream, keep_prob)
        self.thinned = None  # thin(): the text the windows read, closed up, and where each position lands in it

    def _check_acceptance(self, stream, keep_prob) -> None:
        """Refuse keep probabilities that would accept almost no target (estimated on evenly spaced tokens)."""
        at = np.linspace(1, max(1, self.n - 1), num=min(self.n, 1 << 16)).astype(np.int64)  # (m,)
        rate = float(np.asarray(keep_prob, dtype=np.float64)[np.asarray(stream[at], dtype=np.int64)].mean())
        if not rate >= MIN_ACCEPT:
            raise WordmoreError(f"--subsample keeps about {rate:.1e} of the training targets (below {MIN_ACCEPT:g}): "
                                f"the threshold is too small; use e.g. 1e-5 or 1e-4, or 0 for no subsampling")

    def gather(self, pos):
        """Windows and targets at positions pos (a 1-D LongTensor)."""
        import torch
        cpu = self.device.type == "cpu"
        if self.thinned is None:
            text, idx = self.stream, pos[:, None] + self.off[None, :]  # (B, T)
        else:  # the nearest kept tokens on each side of the target, in the thinned text
            at = ((lambda a: torch.from_numpy(a[pos.numpy()]).long()) if cpu else (lambda a: a[pos].long()))
            base = torch.where(self.off < 0, at(self.before)[:, None], at(self.after)[:, None] - 1)  # (B, T)
            text, idx = self.thinned, base + self.off  # (B, T)
        out = (idx < 0) | (idx >= self.n)
        idx = idx.clamp(0, self.n - 1)
        if cpu:
            ctx = torch.from_numpy(text[idx.numpy()].astype(np.int64))  # (B, T)
            y = torch.from_numpy(self.stream[pos.numpy()].astype(np.int64))  # (B,)
        else:
            ctx = text[idx].long()
            y = self.stream[pos].long()
        ctx = ctx.masked_fill(out, self.boundary)
        return mask_boundaries(ctx, self.boundary, self.n_left), y

    def sample_positions(self, batch_size: int, gen):
        """batch_size random target positions; with keep_prob, targets are subsampled (word2vec style)."""
        import torch
        if self.keep is None:
            return torch.randint(1, self.n, (batch_size,), generator=gen, device=self.device)
        if self.device.type != "cpu":  # on the device: no host sync, accepted candidates first
            cand = torch.randint(1, self.n, (4 * batch_size,), generator=gen, device=self.device)
            u = torch.rand(cand.shape, generator=gen, device=self.device)
            ok = u < self.keep[self.stream[cand].long()]
            order = torch.argsort((~ok).to(torch.int8), stable=True)[:batch_size]
            return cand[order]
        got, need = [], batch_size
        for _ in range(100_000):  # bounded: the acceptance rate was checked at construction
            if need <= 0:
                break
            cand = torch.randint(1, self.n, (2 * batch_size,), generator=gen, device=self.device)
            if self.device.type == "cpu":
                tgt = torch.from_numpy(self.stream[cand.numpy()].astype(np.int64))
            else:
                tgt = self.stream[cand].long()
            u = torch.rand(cand.shape, generator=gen, device=self.device)
            ok = cand[u < self.keep[tgt]]
            got.append(ok[:need])
            need -= len(got[-1])
        if need > 0:
            raise WordmoreError("subsampling accepted too few targets to fill a batch; raise --subsample")
        return torch.cat(got)

    thin_chunk = 1 << 22  # tokens thinned at a time: the temporaries stay small on a large corpus

    def thin(self, keep_prob, seed: int) -> int:
        """word2vec's subsampling of the text: each token is dropped with its probability (boundaries never)
        and the kept ones close up; from now on windows read the thinned text, so they reach past dropped
        frequent words, while targets are still drawn from the whole text. The same seed thins alike.
        Returns the length of the thinned text."""
        import torch
        cpu = self.device.type == "cpu"
        if self.thinned is None:  # buffers written in place at every call: a captured CUDA graph reads them
            self.thinned, self.before, self.after = (np.empty(self.n, np.int32) if cpu else
                                                     torch.empty(self.n, dtype=torch.int32, device=self.device)
                                                     for _ in range(3))
        view = (lambda a: torch.from_numpy(a)) if cpu else (lambda a: a)
        thinned, before, after = view(self.thinned), view(self.before), view(self.after)  # (n,) each
        keep = torch.as_tensor(keep_prob, dtype=torch.float32).clone()  # (V,)
        keep[self.boundary] = 1.0
        keep = keep.to(self.device)
        g = torch.Generator(device=self.device).manual_seed(seed)
        m = 0  # kept so far
        for i in range(0, self.n, self.thin_chunk):
            j = min(i + self.thin_chunk, self.n)
            src = torch.from_numpy(np.asarray(self.stream[i:j], dtype=np.int32)) if cpu else self.stream[i:j]  # (c,)
            mask = torch.rand(j - i, generator=g, device=self.device) < keep[src.long()]  # (c,) kept
            kept = src[mask]  # (k,)
            thinned[m:m + kept.numel()] = kept
            upto = torch.cumsum(mask, 0, dtype=torch.int32) + m  # (c,) kept tokens up to and including each
            after[i:j] = upto
            before[i:j] = upto - mask.int()  # kept tokens strictly before each position
            m += kept.numel()
        thinned[m:] = self.boundary  # past the end: windows see a boundary
        return m

    def sample(self, batch_size: int, gen):
        """A random batch: (B, T) contexts and (B,) targets."""
        return self.gather(self.sample_positions(batch_size, gen))

    def eval_positions(self, max_tokens: int, seed: int = 1234):
        """Fixed positions for validation: all of them, or a seeded subset."""
        import torch
        if self.n - 1 <= max_tokens:
            return torch.arange(1, self.n, device=self.device)
        g = torch.Generator().manual_seed(seed)
        return torch.randint(1, self.n, (max_tokens,), generator=g).to(self.device)


def subsample_keep(counts, t: float) -> np.ndarray:
    """word2vec's keep probability per token: sqrt(t/f) + t/f, capped at 1."""
    c = np.asarray(counts, dtype=np.float64)
    f = c / max(c.sum(), 1)
    with np.errstate(divide="ignore"):
        p = np.sqrt(t / f) + t / f
    p[~np.isfinite(p)] = 1.0
    return np.minimum(p, 1.0).astype(np.float32)
