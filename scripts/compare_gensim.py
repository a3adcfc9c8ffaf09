"""wordmore beside gensim Word2Vec (CBOW 5 and 20 epochs, skip-gram 5) on the same text, every figure at once.

usage: python scripts/compare_gensim.py [CORPUS] [--run RUN ...] [--seeds 1 2 3] [--wordmore-args "..."]
                                      [--epochs 5 20] [--no-sg] [--gensim-seeds 1 2 3] [--out JSON]
CORPUS: a catalog name (default fairy) or a path. Without --run, wordmore is trained once per seed with the
default command (`wordmore train --level word`, plus `--dataset CORPUS` when CORPUS is not fairy, plus
--wordmore-args). gensim reads wordmore's own tokens (datasets path, tokenizer) and trains with vector 100,
window 5, min_count 5, 2 workers. Figures per model: Google analogies on the questions all models cover among
their 30,000 most frequent words (total, semantic, syntactic, family) with coverage of the whole file,
WordSim-353 Spearman with coverage, the royal check, the royals' mean pairwise cosine and the mean pairwise
cosine of the four gender offsets. With gensim in the run, the royals' counts in the text and how often each
pair stands within 4 and 10 words (where the check fails, whether the text holds them side by side).
Prints a table; writes results/compare_gensim_<corpus>.json.
Needs gensim (pip install -e .[dev]) and $WORDMORE_DATA (for catalog corpora and the eval files).
"""
import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from wordmore.baseline import common_questions, corpus_sentences, scorecard, train_gensim
from wordmore.embeddings import Embeddings, fmt_table
from wordmore.evaluate import find_eval_file
from wordmore.royal import counts_line, royal_counts


def train_wordmore(corpus: str, seed: int, extra: list[str]) -> tuple[str, float]:
    """One default run into results/runs/; returns its folder and wall seconds."""
    out = f"results/runs/word-{Path(corpus).name}-seed{seed}"
    data = [] if corpus == "fairy" else ["--dataset", corpus]
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "wordmore", "train", "--level", "word", *data, "--seed", str(seed),
                    "--out", out, "--overwrite", *extra], check=True)
    return out, time.time() - t0


def pct(x) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default="fairy")
    ap.add_argument("--run", nargs="+", default=[], help="existing wordmore run directories (default: train them)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--wordmore-args", default="", help="extra flags for wordmore train, in one string")
    ap.add_argument("--epochs", type=int, nargs="*", default=[5, 20], help="gensim CBOW epochs (none: no CBOW)")
    ap.add_argument("--no-sg", action="store_true", help="leave out skip-gram (5 epochs)")
    ap.add_argument("--gensim-seeds", type=int, nargs="+", default=[1], help="each gensim model once per seed")
    ap.add_argument("--out", help="the JSON written (default results/compare_gensim_<corpus>.json)")
    args = ap.parse_args()
    questions, pairs = find_eval_file("questions-words.txt"), find_eval_file("wordsim353.tsv")
    if not questions:
        sys.exit("no questions-words.txt: set WORDMORE_DATA")
    models = {}
    runs = [(r, None) for r in args.run] or [train_wordmore(args.corpus, s, shlex.split(args.wordmore_args))
                                             for s in args.seeds]
    for run, wall in runs:
        summary = json.loads((Path(run) / "summary.json").read_text())
        models[f"wordmore {Path(run).name}"] = (Embeddings.load(run), wall or summary.get("train_seconds"), summary)
    confs = [(f"gensim CBOW-{e}", dict(sg=False, epochs=e)) for e in args.epochs]
    confs += [] if args.no_sg else [("gensim SG-5", dict(sg=True, epochs=5))]
    if args.gensim_seeds != [1]:
        confs = [(f"{name} seed {s}", {**kw, "seed": s}) for name, kw in confs for s in args.gensim_seeds]
    if confs:  # wordmore runs alone need neither the raw text nor gensim
        sents = corpus_sentences(args.corpus)
        print(f"corpus {args.corpus}: {sum(map(len, sents)):,} tokens in {len(sents):,} units", flush=True)
    for name, kw in confs:
        emb, dt = train_gensim(sents, **kw)
        models[name] = (emb, dt, {})
        print(f"{name}: {dt:.1f} s", flush=True)
    common = common_questions(questions, [m[0] for m in models.values()])
    rows = [{"model": name, "seconds": dt, "steps": s.get("step"), "undertrained": s.get("undertrained", False),
             **scorecard(emb, questions, common, pairs)} for name, (emb, dt, s) in models.items()]
    print(fmt_table([(r["model"], f"{r['seconds']:.0f}" if r["seconds"] else "-", pct(r["google"]),
                      f"{r['correct']}/{r['seen']} ({pct(r['coverage'])})", pct(r["semantic"]), pct(r["syntactic"]),
                      pct(r["family"]), "-" if r.get("wordsim") is None else f"{r['wordsim']:.3f}",
                      {True: "pass", False: "FAIL", None: "-"}[r["royal_pass"]],
                      "-" if r["royal_cosine"] is None else f"{r['royal_cosine']:.3f}",
                      "-" if r["offset_cosine"] is None else f"{r['offset_cosine']:.3f}") for r in rows],
                    ("model", "wall s", "Google", "correct/seen (coverage)", "semantic", "syntactic", "family",
                     "WordSim", "royal", "royal cos", "offset cos")))
    if pairs and rows and rows[0].get("wordsim_coverage") is not None:
        print(f"WordSim-353 coverage: {pct(rows[0]['wordsim_coverage'])} of the pairs (each model's top 30,000)")
    counts = royal_counts(sents) if confs else None  # where the check fails, whether the text holds the royals
    if counts:
        print(counts_line(counts))
    Path("results").mkdir(exist_ok=True)
    out = Path(args.out or f"results/compare_gensim_{Path(args.corpus).name}.json")
    out.write_text(json.dumps({"corpus": args.corpus, "rows": rows, "royal_counts": counts}, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
