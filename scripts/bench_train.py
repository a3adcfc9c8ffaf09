"""Training speed beside the hardware limit and beside gensim, in one run on one corpus.

usage: python scripts/bench_train.py [--corpus fairy|PATH|ENCODED_DIR] [--tokens 16384000]
                                     [--batch-sizes 1024 16384] [--modes default eager compile] [--no-gensim]
1. measures this machine's matmul peak in the training precision (bf16 on CUDA and on CPUs with
   native bf16, else fp32), in this run;
2. trains wordmore's default word configuration for a fixed token budget (at least --min-steps steps)
   on the default device, once per batch size (default: the device's preset) and mode (as training
   runs, which on one GPU is CUDA graphs; eager; torch.compile); reports steady-state training tokens/s
   (after the first 10% of steps), the achieved FLOP/s of its matrix work and the ratio to that peak;
3. trains gensim Word2Vec CBOW and skip-gram (5 epochs, vector 100, window 5, min_count 5, 2 workers) on
   the same corpus (same tokenizer, same datasets path), when gensim is installed;
4. scores all of them on the same Google analogy questions (all four words among each model's 30,000
   most frequent words), and writes the table to BENCHMARKS.md (device named) and
   results/bench_train_{cpu,gpu}.json.
"""
import argparse
import json
import platform
import re
import tempfile
import time
from pathlib import Path

import torch

from wordmore.baseline import common_questions, corpus_sentences, train_gensim
from wordmore.config import resolve_config
from wordmore.embeddings import Embeddings, fmt_table
from wordmore.errors import WordmoreError
from wordmore.evaluate import evaluate_analogies, find_eval_file
from wordmore.model import ContextMLP
from wordmore.runtime import pick_device, resolve_precision
from wordmore.train import train


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {cpu}, {torch.get_num_threads()} threads"


def matmul_peak(dev: torch.device, precision: str, seconds: float = 3.0) -> float:
    """Best FLOP/s of square matmuls in the precision training uses (bf16 or fp32)."""
    n = 8192 if dev.type == "cuda" else 1024
    dt = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
    best, t_end = 0.0, time.time() + seconds
    while time.time() < t_end:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 10 * 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="fairy")
    ap.add_argument("--tokens", type=int, default=16000 * 1024)
    ap.add_argument("--min-steps", type=int, default=1000)
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--modes", nargs="*", default=["default"], choices=["default", "eager", "compile"],
                    help="default: as training runs (CUDA graphs on one GPU); eager: no graphs; compile: torch.compile")
    ap.add_argument("--no-gensim", action="store_true")
    args = ap.parse_args()
    dev = pick_device(args.device)
    name = device_name(dev)
    prec = resolve_precision(dev, "auto")
    peak = matmul_peak(dev, prec)
    print(f"device: {name}; measured {prec} matmul peak {peak / 1e9:.1f} GFLOP/s", flush=True)
    base = {"train": {"minutes": 0.0, "eval_every": 10 ** 9, "ckpt_every": 10 ** 9, "device": args.device},
            "data": {"dataset": args.corpus}}
    default_batch = resolve_config("word", base).train.batch_size
    rows = []
    for bs in args.batch_sizes or [default_batch]:
        for mode in args.modes:
            comp = mode == "compile"
            cfg = resolve_config("word", {**base, "train": {**base["train"], "batch_size": bs, "compile": comp,
                                                            "cuda_graph": mode == "default",
                                                            "out": tempfile.mkdtemp() + "/run",
                                                            "max_steps": max(args.min_steps, args.tokens // bs)}})
            try:
                summary = train(cfg, log=lambda *a, **k: None)
            except Exception as e:  # one variant failing (a compiler missing, say) leaves the others
                print(f"batch {bs} {mode}: failed: {type(e).__name__}: {e}", flush=True)
                continue
            saved = json.loads((Path(cfg.train.out) / "config.json").read_text())["model"]
            flops_tok = ContextMLP(type(cfg.model)(**saved)).matmul_flops_per_token()
            tps = summary.get("steady_tokens_per_s") or summary["tokens_per_s"]
            how = ("CUDA graph" if summary.get("cuda_graph") else "eager") if mode != "compile" else "torch.compile"
            label = f"wordmore default word MLP, batch {bs}{' (default)' if bs == default_batch else ''}, {how}"
            rows.append({"model": label, "batch_size": bs, "mode": mode, "how": how, "steps": summary["step"],
                         "seconds": summary["train_seconds"], "tokens_per_s": tps, "gflops": flops_tok * tps / 1e9,
                         "peak_ratio": flops_tok * tps / peak, "emb": Embeddings.load(cfg.train.out)})
            print(f"{label}: {summary['step']} steps, {summary['train_seconds']:.1f} s, {tps:,.0f} tokens/s, "
                  f"{flops_tok * tps / 1e9:.1f} GFLOP/s = {100 * flops_tok * tps / peak:.1f}% of peak", flush=True)
    try:
        if args.no_gensim:
            raise WordmoreError("--no-gensim")
        sents = corpus_sentences(args.corpus)
        n_tok = sum(map(len, sents))
        for label, sg in (("gensim CBOW, 5 epochs", False), ("gensim skip-gram, 5 epochs", True)):
            emb, dt = train_gensim(sents, sg=sg, epochs=5)
            rows.append({"model": label, "seconds": dt, "tokens_per_s": 5 * n_tok / dt, "gflops": None,
                         "peak_ratio": None, "emb": emb})
    except WordmoreError as e:
        print(f"gensim rows skipped ({e})")
    q = find_eval_file("questions-words.txt")
    if q:
        common = common_questions(q, [r["emb"] for r in rows])
        for r in rows:
            t = evaluate_analogies(r["emb"], common, restrict_vocab=30000)["total"]
            r.update(correct=t.correct, seen=t.seen, accuracy=t.accuracy)
    table = fmt_table([(r["model"], f"{r['seconds']:.1f}", f"{r['tokens_per_s']:,.0f}",
                        f"{r['gflops']:.1f}" if r["gflops"] else "-",
                        f"{100 * r['peak_ratio']:.1f}%" if r["peak_ratio"] else "-",
                        f"{100 * r['accuracy']:.1f}% ({r['correct']}/{r['seen']})" if "accuracy" in r else "-")
                       for r in rows],
                      ("model", "train s", "tokens/s", "matmul GFLOP/s", "of peak", "Google analogies"))
    print(table)
    Path("results").mkdir(exist_ok=True)
    out = {"device": name, "precision": prec, "peak_flops": peak, "tokens_budget": args.tokens,
           "corpus": args.corpus, "torch": torch.__version__,
           "rows": [{k: v for k, v in r.items() if k != "emb"} for r in rows]}
    key = "gpu" if dev.type == "cuda" else "cpu"
    Path(f"results/bench_train_{key}.json").write_text(json.dumps(out, indent=1, default=float))
    md = Path("BENCHMARKS.md")
    text = md.read_text() if md.exists() else "# Benchmarks\n"
    block = (f"<!-- bench_train:{key} -->\n### `scripts/bench_train.py` on {name}\n\n"
             f"Measured matmul peak in the training precision ({prec}, square {'8192' if key == 'gpu' else '1024'} "
             f"matmuls): {peak / 1e9:.1f} GFLOP/s. "
             f"Token budget {args.tokens:,} (at least {args.min_steps} steps) on `{Path(args.corpus).name}`; "
             f"tokens/s is the steady state after the first 10% of steps; questions: all four words among each "
             f"model's 30,000 most frequent.\n\n```\n{table}\n```\n<!-- /bench_train:{key} -->")
    pat = re.compile(f"<!-- bench_train:{key} -->.*?<!-- /bench_train:{key} -->", re.S)
    text = pat.sub(block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    md.write_text(text)


if __name__ == "__main__":
    main()
