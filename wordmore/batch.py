"""Training batches: context windows over an id stream, word2vec subsampling and thinning."""
from __future__ import annotations

import numpy as np

from .errors import WordmoreError

MIN_ACCEPT = 1e-4  # subsampling that keeps fewer targets than this is refused (the sampler would spin)
COPY_CHUNK = 1 << 26  # ids copied to a device at a time: no full-size host copy


def device_ids(stream: np.ndarray, device):
    """The id stream on a device in the corpus's own width: uint16 ids as int16 bits (torch indexes no
    uint16 tensor), uint32 ids (below 2^31) as int32; copied in chunks."""
    import torch
    width = {np.dtype(np.uint16): torch.int16, np.dtype(np.uint32): torch.int32}.get(np.dtype(stream.dtype), torch.int32)
    out = torch.empty(len(stream), dtype=width, device=device)  # (n,)
    view = np.int16 if width == torch.int16 else np.int32
    for i in range(0, len(stream), COPY_CHUNK):
        part = np.ascontiguousarray(stream[i:i + COPY_CHUNK]).astype(stream.dtype, copy=False).view(view)
        out[i:i + len(part)] = torch.from_numpy(part.copy())
    return out


def as_ids(t):
    """Ids read from a device stream or buffer as int64 (int16 bits of uint16 ids are unsigned)."""
    return (t.long() & 0xFFFF) if t.dtype.itemsize == 2 else t.long()


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
            self.stream = device_ids(stream, self.device)  # (n,) 2 bytes a token below 65,536 words
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
            after = at(self.after)  # (B,) kept tokens up to and including each target
            before = after - at(self.kept)  # (B,) kept tokens strictly before it
            base = torch.where(self.off < 0, before[:, None], after[:, None] - 1)  # (B, T)
            text, idx = self.thinned, base + self.off  # (B, T)
        out = (idx < 0) | (idx >= self.n)
        idx = idx.clamp(0, self.n - 1)
        if cpu:
            ctx = torch.from_numpy(text[idx.numpy()].astype(np.int64))  # (B, T)
            y = torch.from_numpy(self.stream[pos.numpy()].astype(np.int64))  # (B,)
        else:
            ctx = as_ids(text[idx])
            y = as_ids(self.stream[pos])
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
            ok = u < self.keep[as_ids(self.stream[cand])]
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
                tgt = as_ids(self.stream[cand])
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
        if self.thinned is None:
            self._thin_buffers()
        view = (lambda a: torch.from_numpy(a)) if cpu else (lambda a: a)
        after, kept_at = view(self.after), view(self.kept)  # (n,) each
        keep = torch.as_tensor(keep_prob, dtype=torch.float32).clone()  # (V,)
        keep[self.boundary] = 1.0
        keep = keep.to(self.device)
        g = torch.Generator(device=self.device).manual_seed(seed)
        m = 0  # kept so far
        for i in range(0, self.n, self.thin_chunk):
            j = min(i + self.thin_chunk, self.n)
            src = self.stream[i:j]  # (c,) ids in the stream's own dtype
            ids = torch.from_numpy(np.asarray(src, dtype=np.int64)) if cpu else as_ids(src)  # (c,)
            mask = torch.rand(j - i, generator=g, device=self.device) < keep[ids]  # (c,) kept
            k = int(mask.sum())
            if cpu:
                self.thinned[m:m + k] = np.asarray(src)[mask.numpy()]
            else:
                self.thinned[m:m + k] = src[mask]
            after[i:j] = torch.cumsum(mask, 0, dtype=after.dtype) + m  # (c,) kept tokens up to and including each
            kept_at[i:j] = mask
            m += k
        self.thinned[m:] = self.boundary  # past the end: windows see a boundary
        return m

    def _thin_buffers(self) -> None:
        """Buffers of thin(), written in place at every call (a captured CUDA graph reads them): the thinned
        text in the stream's width, where each position lands in it (int32, int64 past 2^31 tokens), and
        whether it was kept: 7 bytes a token at 65,536 words or fewer (11 beyond 2^31 tokens)."""
        import torch
        wide = self.n >= 2 ** 31 - 1
        if self.device.type == "cpu":
            self.thinned = np.empty(self.n, self.stream.dtype)
            self.after = np.empty(self.n, np.int64 if wide else np.int32)
            self.kept = np.empty(self.n, np.bool_)
        else:
            self.thinned = torch.empty(self.n, dtype=self.stream.dtype, device=self.device)
            self.after = torch.empty(self.n, dtype=torch.int64 if wide else torch.int32, device=self.device)
            self.kept = torch.empty(self.n, dtype=torch.bool, device=self.device)

    def held_bytes(self) -> int:
        """Bytes this batcher holds in memory (device or host): the stream when copied, thinning buffers."""
        arrays = [] if self.device.type == "cpu" else [self.stream]
        arrays += [] if self.thinned is None else [self.thinned, self.after, self.kept]
        return sum(a.nbytes if isinstance(a, np.ndarray) else a.numel() * a.element_size() for a in arrays)

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


def thin_seed(seed: int, n: int) -> int:
    """Seed of the n-th thinning of the text: a function of the run's seed, so a resumed run thins alike."""
    return (seed * 1_000_003 + n) % (2 ** 63)


def subsample_keep(counts, t: float) -> np.ndarray:
    """word2vec's keep probability per token: sqrt(t/f) + t/f, capped at 1."""
    c = np.asarray(counts, dtype=np.float64)
    f = c / max(c.sum(), 1)
    with np.errstate(divide="ignore"):
        p = np.sqrt(t / f) + t / f
    p[~np.isfinite(p)] = 1.0
    return np.minimum(p, 1.0).astype(np.float32)
