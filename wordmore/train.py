"""The trainer: set up data, model and optimizers, loop over steps, finish with checkpoint, vectors and summary."""
from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from .atomic import atomic_write_text
from .checkpoint import restore_rng, resume_config, rng_state, save_checkpoint
from .ckptcheck import CKPT_FORMAT, optim_fits
from .config import PassEstimate, RunConfig, dropout_at, lr_at, planned_steps, run_warnings
from .batch import Batcher, subsample_keep, thin_seed
from .corpus import prepare
from .embeddings import Embeddings, join_tables
from .errors import WordmoreError
from .model import ContextMLP
from .optim import build_optimizers, optim_state
from .runlock import RunLock
from .runs import UNDERTRAINED, strict_json, undertrained_line
from .runtime import Interrupted, Runtime, StopSignals, sync
from .step import GraphedStep, TrainStep, evaluate_loss
from .vocab import Vocab

STOP_EVERY = 10  # steps between the ranks' agreement on stopping, under torchrun


def train(cfg: RunConfig, log=print, given: dict | None = None) -> dict:
    """Train (or resume: given, the flags set by hand, checked) a run, rank 0 alone writing; returns its summary."""
    cfg.validate()
    out, overwrite, rt, lock = cfg.run_dir(), cfg.train.overwrite, None, None
    try:
        with StopSignals(at_once=True):  # until the loop's own handlers: a signal stops at once (exit 130)
            cfg, state = resume_config(cfg, out, given)
            rt = Runtime.start(cfg.train.device, cfg.train.precision, cfg.train.batch_size)
            say = log if rt.is_main else (lambda *a, **k: None)
            if rt.is_main:
                lock = RunLock(out, overwrite=overwrite).acquire()
            summary = Trainer(cfg, rt, out, state, say).run()
        rt.barrier()  # every rank leaves together, after rank 0 has written its files
        return summary
    except Exception as e:
        raise (rt.explain(e, out) if rt else e) from None
    finally:
        if lock:
            lock.release()
        if rt:
            rt.close()


class Trainer:
    """One run: setup (data, model, optimizers, resume state), the loop, then finish."""

    def __init__(self, cfg: RunConfig, rt: Runtime, out: Path, state: dict | None, say):
        self.rt, self.out, self.say = rt, out, say
        torch.manual_seed(cfg.train.seed)
        corpus = prepare(cfg.data, cfg.tokenizer, min_tokens=2, log=say)
        self.vocab = vocab = corpus.vocab
        if state is not None and Vocab.from_dict(state["vocab"]).itos != vocab.itos:
            raise WordmoreError("--resume: the corpus now gives a different vocabulary than the checkpoint's")
        self.cfg = cfg = replace(cfg, model=replace(cfg.model, vocab_size=len(vocab)))
        self.tc, mc = cfg.train, cfg.model
        if corpus.meta["tokens"]["train"] <= mc.n_ctx:
            raise WordmoreError(f"corpus is smaller than the context window: {corpus.meta['tokens']['train']} "
                                f"training tokens, window of {mc.n_ctx}")
        self._build_model()
        self.step, self.elapsed_before, self.best_val, self.start_step = 0, 0.0, float("inf"), 0
        self.n_train = len(corpus.splits["train"])  # targets in one pass
        self.plan = planned_steps(self.tc, self.n_train)  # this run's length in steps
        if state is not None:
            self._restore(state)
            if self.step >= self.plan:
                raise WordmoreError(f"--resume: {out} is at step {self.step:,} of a {self.plan:,}-step plan: nothing "
                                    "to do (give a longer --epochs, --tokens or --max-steps)")
        self._write_run_files()
        self._build_batches(corpus)
        self.t_loop = time.time()
        self.passes = PassEstimate(self.tc, self.plan, self.n_train, self.step, self._elapsed())
        self._plan_dropout()

    def _build_model(self) -> None:
        tc, mc, dev = self.tc, self.cfg.model, self.rt.device
        if mc.head == "softmax" and mc.vocab_size > 50000:
            self.say(f"note: full softmax over {mc.vocab_size:,} words is slow; consider --head adaptive or sampled")
        # sparse row updates (RowAdam) pay off on the CPU; on a GPU dense gradients and fused AdamW are faster
        sparse = (tc.level == "word" and self.rt.world == 1 and dev.type == "cpu" and mc.head != "softmax"
                  and not tc.compile)  # torch.compile handles no sparse gradients
        self.model = model = ContextMLP(mc, sparse=sparse)
        model.set_noise(self.vocab.counts)
        model.to(dev)
        self.gen = torch.Generator(device=dev if dev.type == "cuda" else "cpu").manual_seed(tc.seed)
        model.generator = self.gen
        self.graphed = (tc.cuda_graph and dev.type == "cuda" and self.rt.world == 1 and not tc.compile
                        and not sparse and mc.head != "adaptive")  # the adaptive head's shapes follow the data
        self.opts = build_optimizers(model, tc.lr, tc.weight_decay, dev, capturable=self.graphed)

    def _restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        if optim_fits(state["optim"], self.opts):
            for k, o in self.opts.items():
                o.load_state_dict(state["optim"][k])
        else:
            self.say("warning: the checkpoint's optimizer was built for another device (sparse vs dense rows); "
                     "Adam moments start afresh")
        self.step = self.start_step = int(state["step"])
        self.elapsed_before = float(state.get("elapsed", 0.0))
        self.best_val = float(state.get("best_val", self.best_val))
        restore_rng(state["rng"], self.gen, self.say)
        self.say(f"resumed {self.out} at step {self.step}")

    def _plan_dropout(self) -> None:
        """This run's word dropout, from the passes it is expected to make (PassEstimate); under torchrun DDP
        broadcasts rank 0's buffer each forward."""
        tc, mc = self.tc, self.cfg.model
        if not self.passes.update(self.step, self._elapsed()):
            return
        if tc.expected_passes and self.rt.is_main:
            atomic_write_text(self.out / "config.json", json.dumps(self.cfg.to_dict(), indent=1))
        if tc.minutes and tc.expected_passes and mc.dropout > 0 and tc.dropout_passes > 0:
            self.say(f"word dropout {dropout_at(self.cfg):.3f}: the budget allows {tc.expected_passes:g} passes")
        self.model.word_dropout.fill_(dropout_at(self.cfg))

    def _write_run_files(self) -> None:
        cfg, mc, model = self.cfg, self.cfg.model, self.model
        if self.rt.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "config.json", json.dumps(cfg.to_dict(), indent=1))
            self.vocab.save(self.out / "vocab.json")
            self.say("config: " + json.dumps(cfg.to_dict()))
        for w in run_warnings(cfg, self.plan):
            self.say(f"warning: {w}")
        n_params = sum(p.numel() for p in model.parameters())
        world = self.rt.world
        self.say(f"model: ContextMLP {n_params:,} parameters, vocab {len(self.vocab):,}, window {mc.window} "
                 f"x{mc.context}, head {mc.head}, device {self.rt.device} ({self.rt.precision})"
                 f"{f', {world} processes' if world > 1 else ''}")

    def _build_batches(self, corpus) -> None:
        tc, mc, rt, counts = self.tc, self.cfg.model, self.rt, self.vocab.counts
        keep = subsample_keep(counts, tc.subsample) if tc.subsample > 0 else None
        self.bat = {s: Batcher(corpus.splits[s], self.vocab.boundary_id, mc.context, mc.window, rt.device,
                               keep if s == "train" else None) for s in ("train", "val", "test")}
        # only training windows read a thinned text: the held-out loss stays the loss on the real windows
        self.thin = subsample_keep(counts, tc.subsample_context) if tc.subsample_context > 0 else None
        self.period = 0  # steps between fresh thinnings of the text the windows read: about one pass over it
        if self.thin is not None:
            n_train, kept = self.bat["train"].n, self.bat["train"].thin(self.thin, thin_seed(tc.seed, 0))
            self.period = max(1, kept // tc.batch_size)
            if self.step >= self.period:  # resumed: the thinning of the current pass
                self.bat["train"].thin(self.thin, thin_seed(tc.seed, self.step // self.period))
            self.say(f"subsample: windows read the text thinned to {kept:,} of {n_train:,} tokens "
                     f"({kept / n_train:.0%}), thinned afresh every {self.period:,} steps")
        self.val_pos = self.bat["val"].eval_positions(tc.eval_tokens) if self.bat["val"].n > 1 else None
        fwd = self.model
        if rt.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            fwd = DDP(fwd, device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
                      find_unused_parameters=mc.head == "adaptive")
        if tc.compile:
            fwd = torch.compile(fwd)
        B, world = tc.batch_size, rt.world
        rows = slice(rt.rank * B // world, (rt.rank + 1) * B // world)  # this rank's slice of the global batch
        self.train_step = (GraphedStep(self.model, self.bat["train"], self.opts["dense"], rt, B, tc.grad_clip,
                                       self.say) if self.graphed else
                           TrainStep(self.model, fwd, self.bat["train"], self.opts, rt, tc.grad_clip, rows))

    # ------------------------------------------------------------ the loop

    def run(self) -> dict:
        """Step until the plan is done, the time budget is spent, --stop-after or a signal; then finish."""
        from tqdm import tqdm
        self.pbar = tqdm(total=self.plan, initial=self.step, desc=f"train {self.tc.level}", mininterval=1.0,
                         disable=not self.rt.is_main, dynamic_ncols=True, file=sys.stderr)
        self.t_loop = self.tok_t0 = time.time()  # the budget counts from here
        self.tok_step0, self.tps, self.bad, self.t_warm = self.step, 0.0, None, None
        self.warm_step = self.step + max(20, (self.plan - self.step) // 10)  # steady-state speed from here
        reason = "plan done"
        self.model.train()
        with StopSignals() as stopper:
            while self.step < self.plan:
                why = self._stop_reason(stopper)
                if why:
                    reason = why
                    break
                lr = lr_at(self.tc, self.step, self._progress())
                try:
                    loss = self.step_once(lr, stopper)
                except Interrupted:  # during the draw: the state is the last step's, the checkpoint below
                    reason = f"signal {stopper.name}"
                    break
                self._after_step(loss, lr)
                self._plan_dropout()
        return self._finish(reason)

    def _progress(self) -> float:
        """Share of the run done, by steps or, under a time budget, by time if that is further."""
        p = self.step / self.plan
        return max(p, self._elapsed() / (self.tc.minutes * 60)) if self.tc.minutes > 0 else p

    def _stop_reason(self, stopper: StopSignals) -> str | None:
        """Why to stop before the next step, or None; under torchrun all ranks agree every STOP_EVERY steps."""
        tc = self.tc
        if tc.stop_after and self.step >= tc.stop_after:  # the same step on every rank
            return f"--stop-after {tc.stop_after}"
        budget = tc.minutes > 0 and self._elapsed() >= tc.minutes * 60 * 0.97
        signal = stopper.signal is not None
        if self.rt.world > 1:
            if (self.step - self.start_step) % STOP_EVERY:
                return None
            nan = self.bad is not None and bool(self.bad)
            budget, signal, nan = self.rt.agree(budget, signal, nan)
            if nan:
                self._nan_error(float("nan"), f"before step {self.step + 1} (on some rank)")
            self.bad = None
        if budget:
            return "time budget"
        return f"signal {stopper.name if stopper.signal else 'SIGTERM (another rank)'}" if signal else None

    def step_once(self, lr: float, stopper: StopSignals | None = None) -> torch.Tensor:
        """Draw the global batch's positions, noise words and word dropout draws (every rank alike), then step;
        one process stops in a long draw at a signal (Interrupted, the generator as before the draw)."""
        if self.period and self.step and self.step % self.period == 0:
            self.bat["train"].thin(self.thin, thin_seed(self.tc.seed, self.step // self.period))
        alone, mc = stopper is not None and self.rt.world == 1, self.model.cfg  # under torchrun the ranks agree on stopping
        before = self.gen.get_state() if alone else None
        try:
            with stopper.interruptible() if alone else contextlib.nullcontext():
                pos = self.bat["train"].sample_positions(self.tc.batch_size, self.gen)  # (B,)
                neg = self.model.sample_noise(self.gen) if mc.head in ("neg", "sampled") else None  # (K,)
                drop = torch.rand(len(pos), mc.n_ctx, generator=self.gen, device=self.gen.device) if mc.dropout else None
        except Interrupted:
            self.gen.set_state(before)
            raise
        loss = self.train_step(pos, neg, drop, lr)
        self._watch_nan(loss)
        return loss

    def _watch_nan(self, loss: torch.Tensor) -> None:
        """Stop on a NaN/inf loss: at once on the CPU; on a GPU (no host sync per step) every 50 steps."""
        step, tc = self.step, self.tc
        if self.rt.device.type == "cpu" and self.rt.world == 1:
            if not torch.isfinite(loss):
                self._nan_error(loss.item(), f"at step {step + 1}")
            return
        bad = ~torch.isfinite(loss.detach())
        self.bad = bad if self.bad is None else self.bad | bad
        if self.rt.world == 1 and ((step + 1) % 50 == 0 or (step + 1) % tc.ckpt_every == 0 or step + 1 == self.plan):
            if bool(self.bad):
                self._nan_error(float("nan"), f"between steps {max(step - 48, 1)} and {step + 1}")
            self.bad = None

    def _nan_error(self, value, where: str):
        raise WordmoreError(f"loss became {value} {where}; stopped. The last good checkpoint (if any) is kept "
                            f"in {self.out}; try a lower --lr")

    def _after_step(self, loss: torch.Tensor, lr: float) -> None:
        """Count the step; progress bar, evaluation and checkpoint when due."""
        self.step += 1
        step, tc = self.step, self.tc
        if step == self.warm_step:
            sync(self.rt.device)
            self.t_warm = time.time()
        if step % 50 == 0 or step == self.plan:
            dt = time.time() - self.tok_t0
            if dt > 0.5:
                self.tps = (step - self.tok_step0) * tc.batch_size / dt
                self.tok_t0, self.tok_step0 = time.time(), step
            self.pbar.set_postfix(loss=f"{loss.item():.4f}", tok_s=f"{self.tps:,.0f}", lr=f"{lr:.2e}", refresh=False)
            self.pbar.update(step - self.pbar.n)
        if step % (tc.eval_every or max(1, self.plan // 20)) == 0 or step == self.plan:
            self._evaluate(loss.item(), lr)
        if step % tc.ckpt_every == 0:
            self._checkpoint()

    def _evaluate(self, train_loss: float, lr: float) -> None:
        val = self._loss_on("val")
        self.best_val = min(self.best_val, val)
        self._record({"step": self.step, "train_loss": train_loss, "val_loss": val, "lr": lr,
                      "tokens": self.step * self.tc.batch_size, "elapsed": round(self._elapsed(), 2)})
        if self.rt.is_main:
            ppl = f"  ppl {math.exp(min(val, 50)):.1f}" if self.model.normalised() and self.tc.level == "word" else ""
            self.pbar.write(f"step {self.step}: train {train_loss:.4f}  val {val:.4f}{ppl}")

    def _loss_on(self, split: str) -> float:
        """Loss on the fixed validation sample, or on test positions; NaN when the split is empty."""
        if split == "val":
            pos = self.val_pos
        else:
            pos = self.bat["test"].eval_positions(max(self.tc.eval_tokens, 1)) if self.bat["test"].n > 1 else None
        return float("nan") if pos is None else evaluate_loss(self.model, self.bat[split], pos, self.rt)

    def _elapsed(self) -> float:
        return self.elapsed_before + time.time() - self.t_loop

    def _record(self, d: dict) -> None:
        if self.rt.is_main:
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(strict_json(d) + "\n")

    def _checkpoint(self) -> None:
        if self.rt.is_main:
            save_checkpoint(self.out / "ckpt.pt", {
                "format": CKPT_FORMAT, "config": self.cfg.to_dict(), "vocab": self.vocab.to_dict(),
                "model": self.model.state_dict(), "optim": {k: optim_state(o) for k, o in self.opts.items()},
                "step": self.step, "elapsed": self._elapsed(), "best_val": self.best_val, "rng": rng_state(self.gen)})

    # ------------------------------------------------------------ the end

    def _finish(self, reason: str) -> dict:
        """Checkpoint, final losses, vectors and summary.json; the summary is returned."""
        self.pbar.update(self.step - self.pbar.n)
        self.pbar.close()
        sync(self.rt.device)
        seconds, step, B = time.time() - self.t_loop, self.step, self.tc.batch_size  # seconds: this process's
        steady = ((step - self.warm_step) * B / (time.time() - self.t_warm)
                  if self.t_warm and step > self.warm_step else None)
        if self.bad is not None and bool(self.bad):
            self._nan_error(float("nan"), f"in the last steps before {step}")
        self._checkpoint()
        summary = {"step": step, "planned_steps": self.plan, "stopped": reason, "train_seconds": round(self._elapsed(), 2),
                   "tokens_per_s": round((step - self.start_step) * B / max(seconds, 1e-9), 1),
                   "steady_tokens_per_s": round(steady, 1) if steady else None, "device": str(self.rt.device),
                   "cuda_graph": self.train_step.graphed, "precision": self.rt.precision, "run_dir": str(self.out)}
        if step < UNDERTRAINED * self.plan and reason != "plan done" and not reason.startswith("--stop-after"):
            summary["undertrained"] = True
        if reason.startswith("signal"):
            summary["interrupted"] = True
            self.say(f"interrupted ({reason}) at step {step}: checkpoint saved in {self.out}; continue with --resume"
                     + (f"\n{undertrained_line(summary)}" if summary.get("undertrained") else ""))
            return summary
        if self.val_pos is not None:
            summary["val_loss"] = self._loss_on("val")
        if self.bat["test"].n > 1:
            summary["test_loss"] = self._loss_on("test")
        self._record({"final": True, **summary})
        if self.rt.is_main:
            self._write_outputs(summary, reason)
        return summary

    def _write_outputs(self, summary: dict, reason: str) -> None:
        with torch.no_grad():
            joined = self.cfg.model.vectors == "joined"
            tables = [t.float().cpu().numpy() for t in (self.model.joined_tables() if joined else [self.model.C.weight])]
        vecs = join_tables(tables, self.cfg.model.cross) if joined else tables[0]  # (V, D)
        emb = Embeddings(self.vocab.itos, vecs, lowercase=self.cfg.tokenizer.lowercase, counts=self.vocab.counts)
        emb.save_word2vec(self.out / "embeddings.vec")
        atomic_write_text(self.out / "summary.json", strict_json(summary, indent=1))
        ppl = (f" (test perplexity {math.exp(min(summary['test_loss'], 50)):.1f})"
               if self.tc.level == "word" and self.model.normalised() and "test_loss" in summary else "")
        self.say(f"done: {self.step} steps ({reason}) in {summary['train_seconds']:.1f}s, val loss {summary.get('val_loss', math.nan):.4f}, "
                 f"test loss {summary.get('test_loss', math.nan):.4f}{ppl}")
        self.say(f"run directory: {self.out} (ckpt.pt, config.json, vocab.json, metrics.jsonl, embeddings.vec)")
        if summary.get("undertrained"):
            self.say(undertrained_line(summary))
