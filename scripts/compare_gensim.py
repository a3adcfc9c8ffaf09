"""wordmore's default word run against gensim Word2Vec on the same corpus and the same analogy questions.

usage: python scripts/compare_gensim.py [--run RUN_DIR] [--corpus fairy] [--epochs 5 20] [--sg]
Without --run it trains `wordmore train --level word` first (the default run, timed).
Questions: Google's questions-words.txt, keeping those whose four words are all among the 30,000
most frequent words of both models (case-insensitive). Prints a table; writes results/compare_gensim.json.
Needs gensim (pip install -e .[dev]) and $WORDMORE_DATA (or a local --corpus path).
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from wordmore.baseline import common_questions, corpus_sentences, train_gensim
from wordmore.embeddings import Embeddings, fmt_table
from wordmore.evaluate import evaluate_analogies, find_eval_file


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="", help="an existing wordmore run directory (default: train one)")
    ap.add_argument("--corpus", default="fairy")
    ap.add_argument("--epochs", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--sg", action="store_true", help="also skip-gram, 5 epochs")
    ap.add_argument("--questions", default=None)
    args = ap.parse_args()
    questions = args.questions or find_eval_file("questions-words.txt")
    if not questions:
        sys.exit("no questions-words.txt: pass --questions or set WORDMORE_DATA")
    run = args.run
    wm_time = None
    if not run:
        run = "results/wordmore-default-run"
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "wordmore", "train", "--level", "word", "--dataset", args.corpus,
                        "--out", run, "--overwrite"], check=True)
        wm_time = time.time() - t0
    else:
        s = Path(run) / "summary.json"
        wm_time = json.loads(s.read_text()).get("train_seconds") if s.exists() else None
    models = {"wordmore (default run)": (Embeddings.load(run), wm_time)}
    t0 = time.time()
    sents = corpus_sentences(args.corpus)
    load_s = time.time() - t0
    print(f"corpus {args.corpus}: {sum(map(len, sents)):,} tokens in {len(sents):,} units ({load_s:.1f}s to load)")
    confs = [(f"gensim CBOW, {e} epochs", dict(sg=False, epochs=e)) for e in args.epochs]
    if args.sg:
        confs.append(("gensim skip-gram, 5 epochs", dict(sg=True, epochs=5)))
    for name, kw in confs:
        models[name] = train_gensim(sents, **kw)
    common = common_questions(questions, [e for e, _ in models.values()])
    rows = []
    for name, (emb, dt) in models.items():
        r = evaluate_analogies(emb, common, restrict_vocab=30000)
        full = evaluate_analogies(emb, questions, restrict_vocab=30000)
        t = r["total"]
        rows.append({"model": name, "seconds": dt, "correct": t.correct, "seen": t.seen,
                     "accuracy": t.accuracy, "semantic": r["semantic"].accuracy, "syntactic": r["syntactic"].accuracy,
                     "own_top30k_accuracy": full["total"].accuracy, "own_top30k_seen": full["total"].seen,
                     "family": next((s.accuracy for s in r["sections"] if s.name == "family"), None)})
    print(fmt_table([(r["model"], f"{r['seconds']:.1f}" if r["seconds"] else "-",
                      f"{100 * r['accuracy']:.1f}%", f"{r['correct']}/{r['seen']}",
                      f"{100 * r['semantic']:.1f}%", f"{100 * r['syntactic']:.1f}%",
                      f"{100 * r['family']:.1f}%" if r["family"] == r["family"] and r["family"] is not None else "-",
                      f"{100 * r['own_top30k_accuracy']:.1f}% of {r['own_top30k_seen']}") for r in rows],
                    ("model", "wall s", "accuracy", "correct/seen", "semantic", "syntactic", "family",
                     "own top-30k set")))
    Path("results").mkdir(exist_ok=True)
    Path("results/compare_gensim.json").write_text(json.dumps({"corpus": args.corpus, "rows": rows}, indent=1,
                                                              default=float))


if __name__ == "__main__":
    main()
