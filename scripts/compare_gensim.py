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
import tempfile
import time
from pathlib import Path

from wordmore.data import DataConfig, iter_text, load_texts, resolve
from wordmore.embeddings import Embeddings, fmt_table
from wordmore.evaluate import evaluate_analogies, find_eval_file, read_analogies
from wordmore.vocab import TokenizerConfig, iter_units


def sentences(corpus: str) -> list[list[str]]:
    """The corpus through wordmore's own datasets path and tokenizer (paragraph units, lower-cased)."""
    cfg = DataConfig(dataset=corpus)
    src = resolve(corpus, cfg)
    ds = load_texts(src, cfg, src.sample_by or "paragraph")
    return list(iter_units(iter_text(ds, "text"), TokenizerConfig("word")))


def common_questions(path, models, top=30000) -> Path:
    keep = [set(w.upper() for w in m.words[:top]) for m in models]
    out = Path(tempfile.mkdtemp()) / "questions-common.txt"
    with open(out, "w") as f:
        for name, qs in read_analogies(path):
            f.write(f": {name}\n")
            for _, ws in qs:
                if all(all(w.upper() in k for w in ws) for k in keep):
                    f.write(" ".join(ws) + "\n")
    return out


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
    from gensim.models import Word2Vec
    t0 = time.time()
    sents = sentences(args.corpus)
    load_s = time.time() - t0
    print(f"corpus {args.corpus}: {sum(map(len, sents)):,} tokens in {len(sents):,} units ({load_s:.1f}s to load)")
    confs = [(f"gensim CBOW, {e} epochs", dict(sg=0, epochs=e)) for e in args.epochs]
    if args.sg:
        confs.append(("gensim skip-gram, 5 epochs", dict(sg=1, epochs=5)))
    for name, kw in confs:
        t0 = time.time()
        m = Word2Vec(sents, vector_size=100, window=5, min_count=5, workers=2, seed=1, **kw)
        dt = time.time() - t0
        models[name] = (Embeddings(list(m.wv.index_to_key), m.wv.vectors, lowercase=True), dt)
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
