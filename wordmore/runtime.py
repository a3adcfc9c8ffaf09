"""Runtime choices of one process: device, precision, distributed rank, stop signals, CPU tuning. Never saved."""
from __future__ import annotations

import contextlib
import datetime
import functools
import os
import signal
import sys
import threading
from dataclasses import dataclass

import torch

from .errors import WordmoreError


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
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise WordmoreError("device mps asked for, but this machine has no Apple GPU for PyTorch (use cpu or auto)")
    return dev


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


def autocast(device: torch.device, precision: str, cache: bool = True):
    """bf16 autocast when the resolved precision is bf16 (CUDA, CPU), else nothing."""
    if resolve_precision(device, precision) == "bf16" and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Have glibc keep freed blocks for reuse instead of returning them to the kernel (CPU training).

    A training step allocates and frees the same few-MB tensors every step; by default glibc maps each one
    fresh and the kernel zeroes its pages again. Linux/glibc only."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so timings are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Runtime:
    """Where and how this process trains: device, precision, rank among world processes."""

    device: torch.device
    precision: str  # bf16 | fp32, resolved
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    broken: bool = False  # a collective failed: the group is not left (a peer is gone), see explain

    @property
    def is_main(self) -> bool:
        """Rank 0 writes every file and prints."""
        return self.rank == 0

    @classmethod
    def start(cls, device: str, precision: str, batch_size: int) -> "Runtime":
        """Pick the device, join torchrun's process group when there is one, tune the CPU allocator."""
        rank, world, local_rank = (int(os.environ.get(k, d)) for k, d in
                                   (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)))
        dev = pick_device(device)
        if dev.type == "cpu":
            keep_freed_memory()
        if world > 1:
            import torch.distributed as dist
            if dev.type == "cuda":
                dev = torch.device("cuda", local_rank)
                torch.cuda.set_device(dev)
            if not dist.is_initialized():
                timeout = datetime.timedelta(seconds=float(os.environ.get("WORDMORE_DIST_TIMEOUT", 1800)))
                dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timeout)
            if batch_size % world:
                raise WordmoreError(f"--batch-size {batch_size} is not divisible by {world} processes")
        return cls(dev, resolve_precision(dev, precision), rank, world, local_rank)

    def autocast(self, cache: bool = True):
        """This runtime's autocast context."""
        return autocast(self.device, self.precision, cache)

    def agree(self, *flags: bool) -> list[bool]:
        """Each flag raised on any rank is raised on all (one small all-reduce)."""
        import torch.distributed as dist
        t = torch.tensor([float(f) for f in flags], device=self.device)  # (n,)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(x) for x in t.tolist()]

    def barrier(self) -> None:
        """Wait for every rank (several processes only)."""
        if self.world > 1:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        """Leave the process group, if this process joined one (not after a failed collective: see explain)."""
        if self.world > 1 and not self.broken:
            import torch.distributed as dist
            if dist.is_initialized():
                with contextlib.suppress(Exception):
                    dist.destroy_process_group()

    def explain(self, e: BaseException, out) -> BaseException:
        """A failed collective (another rank died or hung) or allocation as one clear line; other errors unchanged.
        After a failed collective torchrun's agent stops this rank with SIGTERM: it is ignored from here, and the
        group not left (its peer is gone), so the line gets out before the process ends."""
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        text = text.split("] ", 1)[-1] if text.startswith("[") else text  # gloo's source location
        collective = any(k in str(e) for k in ("gloo", "Gloo", "NCCL", "Connection", "timed out", "Timeout"))
        if self.world > 1 and not isinstance(e, WordmoreError) and isinstance(e, RuntimeError) and collective:
            self.broken = True
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            return WordmoreError(f"rank {self.rank}: another process of this run stopped answering ({text[:120]}); "
                                 f"the last checkpoint is in {out}: continue with --resume")
        if isinstance(e, MemoryError) or isinstance(e, RuntimeError) and any(
                k in str(e) for k in ("can't allocate memory", "out of memory", "Out of memory")):
            return WordmoreError(f"out of memory on {self.device} ({text[:120]}): lower --batch-size, --n-embd, "
                                 f"--n-hidden or --max-vocab")
        return e


class Interrupted(KeyboardInterrupt):
    """A stop signal where the run cannot wait for the end of a step: during setup, or inside a long draw."""


class StopSignals:
    """SIGINT/SIGTERM/SIGHUP ask the loop to checkpoint and stop after the current step; a second one stops at once.

    With at_once (setup, before the first step), or inside interruptible() (a draw that may take long), the
    first one raises Interrupted (a KeyboardInterrupt: exit 130) where the code stands. A SIGTERM or SIGHUP
    that the parent set to be ignored stays ignored, as nohup asks of SIGHUP."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self, at_once: bool = False):
        self.signal = None
        self._old = {}
        self._at_once = at_once

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                if s != signal.SIGINT and signal.getsignal(s) == signal.SIG_IGN:
                    continue  # ignored by whoever started us (nohup ignores SIGHUP): keep it so
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        if self._at_once:
            raise Interrupted(self.name)

    @contextlib.contextmanager
    def interruptible(self):
        """Inside: a stop signal (also one that came just before) raises Interrupted at once."""
        if self.signal is not None:
            raise Interrupted(self.name)
        before, self._at_once = self._at_once, True
        try:
            yield self
        finally:
            self._at_once = before

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}

    @property
    def name(self) -> str:
        """The signal's name, e.g. SIGTERM."""
        return signal.Signals(self.signal).name
