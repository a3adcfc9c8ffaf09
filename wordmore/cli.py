"""Command line: wordmore train | sample | neighbors | analogy | similarity | odd-one-out | evaluate | plot | export | report."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from .errors import WordmoreError
from .options import field_choices, field_default, limit_error

def _int_type(lo: int):
    """argparse type: an integer of at least lo (query flags)."""
    return _field_type(int, {"min": lo})


def _float_type(lo: float, strict: bool):
    """argparse type: a number above lo (strict) or at least lo."""
    return _field_type(float, {"gt" if strict else "min": lo})


def _field_type(kind, meta: dict):
    """argparse type for an int or float field, checked against the field's limits."""
    def conv(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not {'an integer' if kind is int else 'a number'}") from None
        why = limit_error(v, meta)
        if why:
            raise argparse.ArgumentTypeError(why)
        return v
    return conv


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    """One --flag per config field, with its help, choices and limits from the dataclasses; defaults by level."""
    from .config import PRESETS, SECTIONS
    for section, kls in SECTIONS.items():
        g = p.add_argument_group(section)
        for f in fields(kls):
            if f.metadata.get("cli") is False:
                continue
            default = field_default(f)
            per = {lv: PRESETS[lv].get(section, {}).get(f.name, default) for lv in PRESETS}
            dflt = (f"default {per['char']!r}" if per["char"] == per["word"]
                    else f"default: char {per['char']!r}, word {per['word']!r}")
            limit = f", at most {f.metadata['max']:,}" if "max" in f.metadata else ""
            kw = {"dest": f"{section}.{f.name}", "default": argparse.SUPPRESS,
                  "help": f"{f.metadata.get('help', '')} ({dflt}{limit})".strip()}
            flag, choices = "--" + f.name.replace("_", "-"), field_choices(kls, f.name)
            if isinstance(default, bool):
                g.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
            elif choices:
                g.add_argument(flag, choices=choices, **kw)
            elif isinstance(default, (int, float)):
                g.add_argument(flag, type=_field_type(type(default), f.metadata), metavar="N" if
                               isinstance(default, int) else "X", **kw)
            elif isinstance(default, list):
                g.add_argument(flag, type=_field_type(int, f.metadata), nargs="+", metavar="N", **kw)
            else:
                g.add_argument(flag, metavar=f.name.upper(), **kw)


def _query_flags(p: argparse.ArgumentParser, k: int | None = 10) -> None:
    p.add_argument("--model", "-m", default="", help="run directory or vectors file (.vec/.txt/.bin); "
                   "default: the most recent word run")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    if k is not None:
        p.add_argument("-k", type=_int_type(1), default=k, help=f"how many answers (default {k})")
        p.add_argument("--restrict-vocab", type=_int_type(1), default=None, metavar="N",
                       help="search only the N most frequent words")


def build_parser() -> argparse.ArgumentParser:
    """The wordmore argument parser."""
    ap = argparse.ArgumentParser(prog="wordmore", description="makemore's context-window MLP over characters "
                                 "or words: train it, then ask whether king, queen, prince and princess are near.")
    from . import __version__
    ap.add_argument("--version", action="version", version=f"wordmore {__version__}")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("train", help="train a model (char level on names, word level on fairy tales)")
    p.add_argument("--level", default="char", help="char | word (default char): only changes tokenization "
                   "and the preset defaults shown below")
    p.add_argument("--no-royals", action="store_true", help="word level: do not print the royal table at the end")
    _add_train_flags(p)

    p = sub.add_parser("sample", help="print new names from a char model")
    p.add_argument("--model", "-m", default="runs/char-names", help="run directory")
    p.add_argument("-n", "--num", type=_int_type(1), default=20)
    p.add_argument("--temperature", type=_float_type(0.0, True), default=1.0)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("neighbors", help="nearest words by cosine")
    p.add_argument("word")
    _query_flags(p)
    p = sub.add_parser("analogy", help="A - B + C (king man woman -> queen), query words excluded")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    _query_flags(p, 5)
    p.add_argument("--method", choices=["add", "mul"], default="add", help="3CosAdd (add) or 3CosMul (mul)")
    p = sub.add_parser("similarity", help="cosine similarity of two words")
    p.add_argument("a")
    p.add_argument("b")
    _query_flags(p, None)
    p = sub.add_parser("odd-one-out", help="the word that does not belong")
    p.add_argument("words", nargs="+")
    _query_flags(p, None)

    p = sub.add_parser("evaluate", help="Google analogies and word-similarity scores, with coverage")
    _query_flags(p, None)
    p.add_argument("--analogies", default=None, help="Google-format file (default: questions-words.txt "
                   "beside $WORDMORE_DATA, if there)")
    p.add_argument("--similarity", default=None, help="word-pair file, tab-separated (default: wordsim353.tsv "
                   "beside $WORDMORE_DATA, if there)")
    p.add_argument("--restrict-vocab", type=_int_type(1), default=300000, metavar="N")
    p.add_argument("--method", choices=["add", "mul"], default="add")
    p.add_argument("--case-sensitive", action="store_true")

    p = sub.add_parser("plot", help="PCA / t-SNE picture of the embeddings (PNG)")
    p.add_argument("--model", "-m", default="")
    p.add_argument("--out", "-o", default="", help="PNG path (default <run>/plot-<method>.png)")
    p.add_argument("--method", choices=["pca", "tsne"], default="pca")
    p.add_argument("--words", nargs="+", default=None)
    p.add_argument("--arrows", action="store_true", help="draw man->woman, king->queen, ... offsets")
    p.add_argument("--background", type=_int_type(0), default=300, help="faint frequent words")

    p = sub.add_parser("export", help="word2vec text/binary or TensorBoard projector files")
    p.add_argument("--model", "-m", default="")
    p.add_argument("--format", choices=["word2vec", "word2vec-bin", "projector"], default="word2vec")
    p.add_argument("--out", "-o", required=True, help="file (word2vec) or folder (projector)")

    p = sub.add_parser("report", help="Markdown report of a run: curve, royal neighbours, analogies, plots")
    p.add_argument("run", help="run directory")
    p.add_argument("--analogies", default=None)
    p.add_argument("--restrict-vocab", type=_int_type(1), default=30000)
    return ap


# ---------------------------------------------------------------- commands

def _model_path(arg: str) -> Path:
    if arg:
        return Path(arg)
    from .checkpoint import latest_run_file
    f = latest_run_file()
    if f.exists():
        p = Path(f.read_text().strip())
        if p.exists():
            return p
    raise WordmoreError("no --model given and no word run found yet: train one with "
                        "'wordmore train --level word' or pass --model PATH")


def _load_emb(arg: str):
    from .embeddings import Embeddings
    return Embeddings.load(_model_path(arg))


def _check_k(emb, k):
    if k is not None and k > len(emb) - 1:
        raise WordmoreError(f"-k {k} is larger than the vocabulary ({len(emb)} words)")


def cmd_train(args, overrides) -> int:
    from .config import resolve_config
    cfg = resolve_config(args.level, overrides).validate()
    from .train import train, undertrained_line
    summary = train(cfg)
    if summary.get("interrupted"):
        return 130
    if cfg.train.level == "word" and not args.no_royals and int(os.environ.get("RANK", 0)) == 0:
        from .embeddings import Embeddings
        from .royal import royal_report
        print(royal_report(Embeddings.load(summary["run_dir"])))
        if summary.get("undertrained"):
            print(undertrained_line(summary))
    return 0


def cmd_sample(args) -> int:
    import torch
    from .checkpoint import load_model
    model, vocab, cfg, _ = load_model(_model_path(args.model))
    if cfg.model.window != "left" or not model.normalised():
        raise WordmoreError("sampling needs a left-window model with a softmax or adaptive head")
    train_set = _training_units(cfg, vocab)
    g = torch.Generator().manual_seed(args.seed)
    b = vocab.boundary_id
    sep = "" if cfg.tokenizer.level == "char" else " "
    for _ in range(args.num):
        ctx, outp = [b] * cfg.model.context, []
        for _ in range(200):
            lp = model.log_probs(torch.tensor([ctx]))[0] / args.temperature
            nxt = int(torch.multinomial(torch.softmax(lp, -1), 1, generator=g))
            if nxt == b:
                break
            outp.append(nxt)
            ctx = ctx[1:] + [nxt]
        text = sep.join(vocab.decode(outp))
        tag = "" if train_set is None else ("  (in train)" if text in train_set else "  (new)")
        print(text + tag)
    return 0


def _training_units(cfg, vocab):
    """The training set's units as strings, to mark samples that were memorised."""
    from .data import prepare
    try:
        corpus = prepare(cfg.data, cfg.tokenizer, log=lambda *a: None)
    except WordmoreError as e:
        print(f"note: training set not available to compare samples ({e})", file=sys.stderr)
        return None
    ids = corpus.splits["train"]
    sep = "" if cfg.tokenizer.level == "char" else " "
    units, cur = set(), []
    for i in ids.tolist():
        if i == vocab.boundary_id:
            if cur:
                units.add(sep.join(vocab.decode(cur)))
            cur = []
        else:
            cur.append(i)
    return units


def _emit(args, obj, text):
    print(json.dumps(obj, ensure_ascii=False) if args.json else text)


def cmd_neighbors(args) -> int:
    from .embeddings import fmt_table
    emb = _load_emb(args.model)
    _check_k(emb, args.k)
    res = emb.neighbors(args.word, args.k, args.restrict_vocab)
    _emit(args, {"word": args.word, "neighbors": [{"word": w, "cosine": s} for w, s in res]},
          fmt_table([(i + 1, w, s) for i, (w, s) in enumerate(res)], ("#", f"neighbour of {args.word}", "cosine")))
    return 0


def cmd_analogy(args) -> int:
    from .embeddings import fmt_table
    emb = _load_emb(args.model)
    _check_k(emb, args.k)
    res = emb.analogy(args.a, args.b, args.c, args.k, args.method, args.restrict_vocab)
    q = f"{args.a} - {args.b} + {args.c}"
    _emit(args, {"query": q, "method": args.method, "answers": [{"word": w, "score": s} for w, s in res]},
          fmt_table([(i + 1, w, s) for i, (w, s) in enumerate(res)], ("#", q, "score")))
    return 0


def cmd_similarity(args) -> int:
    emb = _load_emb(args.model)
    s = emb.similarity(args.a, args.b)
    _emit(args, {"a": args.a, "b": args.b, "cosine": s}, f"cosine({args.a}, {args.b}) = {s:.4f}")
    return 0


def cmd_odd(args) -> int:
    from .embeddings import fmt_table
    emb = _load_emb(args.model)
    odd, scores = emb.doesnt_match(args.words)
    _emit(args, {"odd_one_out": odd, "scores": [{"word": w, "cosine_to_mean": s} for w, s in scores]},
          f"odd one out: {odd}\n" + fmt_table(scores, ("word", "cosine to the mean")))
    return 0


def cmd_evaluate(args) -> int:
    from .embeddings import fmt_table
    from .evaluate import analogy_table, evaluate_analogies, evaluate_pairs, find_eval_file
    emb = _load_emb(args.model)
    ana = args.analogies or find_eval_file("questions-words.txt")
    sim = args.similarity or find_eval_file("wordsim353.tsv")
    if not ana and not sim:
        raise WordmoreError("nothing to evaluate: pass --analogies FILE and/or --similarity FILE")
    out = {}
    ci = not args.case_sensitive
    if ana:
        r = evaluate_analogies(emb, ana, args.restrict_vocab, ci, args.method)
        out["analogies"] = {"file": str(ana), "sections": {s.name: {"correct": s.correct, "seen": s.seen,
                            "skipped": s.skipped} for s in r["sections"]},
                            **{k: {"correct": r[k].correct, "seen": r[k].seen, "skipped": r[k].skipped,
                                   "accuracy": r[k].accuracy if r[k].seen else None}
                               for k in ("semantic", "syntactic", "total")}, "coverage": r["coverage"]}
        if not args.json:
            print(f"analogies: {ana}\n" + analogy_table(r))
    if sim:
        r = evaluate_pairs(emb, sim, args.restrict_vocab, ci)
        out["similarity"] = r
        if not args.json:
            print(f"\nword similarity: {sim}\n" + fmt_table(
                [(Path(sim).name, r["spearman"], r["pearson"], f"{r['seen']}/{r['pairs']}")],
                ("file", "spearman", "pearson", "pairs covered")))
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=float))
    return 0


def cmd_plot(args) -> int:
    from .plot import plot_embeddings
    path = _model_path(args.model)
    emb = _load_emb(str(path))
    char = _is_char(path)
    out = args.out or (str(path / f"plot-{args.method}.png") if path.is_dir() else f"plot-{args.method}.png")
    plot_embeddings(emb, out, args.words, args.method, args.arrows, args.background, char=char)
    print(f"wrote {out}")
    return 0


def _is_char(path: Path) -> bool:
    vj = path / "vocab.json" if path.is_dir() else None
    if vj and vj.exists():
        with open(vj, encoding="utf-8") as f:
            return json.load(f).get("tokenizer", {}).get("level") == "char"
    return False


def cmd_export(args) -> int:
    emb = _load_emb(args.model)
    if args.format == "projector":
        v, m = emb.save_projector(args.out)
        print(f"wrote {v} and {m} (load both at projector.tensorflow.org)")
    else:
        emb.save_word2vec(args.out, binary=args.format == "word2vec-bin")
        print(f"wrote {args.out} ({len(emb):,} x {emb.dim})")
    return 0


def cmd_report(args) -> int:
    from .embeddings import Embeddings, fmt_table
    from .evaluate import analogy_table, evaluate_analogies, find_eval_file
    from .plot import plot_curve, plot_embeddings
    from .royal import ROYALS, royal_check, royal_report
    run = Path(args.run)
    emb = Embeddings.load(run)
    char = _is_char(run)
    parts = [f"# wordmore report: {run}", ""]
    cfgp = run / "config.json"
    if cfgp.exists():
        parts += ["## Configuration", "", "```json", cfgp.read_text(encoding="utf-8").strip(), "```", ""]
    sp = run / "summary.json"
    if sp.exists():
        s = json.loads(sp.read_text(encoding="utf-8"))
        parts += ["## Result", "", fmt_table(sorted(s.items()), ("", "")).replace("\n", "  \n"), ""]
    if (run / "metrics.jsonl").exists():
        try:
            plot_curve(run / "metrics.jsonl", run / "curve.png")
            parts += ["## Training curve", "", "![training curve](curve.png)", ""]
        except WordmoreError as e:
            parts += [f"(no curve: {e})", ""]
    if not char:
        parts += ["## Are king, queen, prince and princess near each other?", "", "```",
                  royal_report(emb).strip(), "```", ""]
        rows = []
        if all(emb.key(w) is not None for w in ROYALS + ("man", "woman")):
            rows = [(x["word"], ", ".join(o for o, r in x["ranks"].items() if r) or "-", ", ".join(x["top"][:5]))
                    for x in royal_check(emb)["rows"]]
        parts += ["| word | other royals in its top 10 | top 5 |", "|---|---|---|"] + \
                 [f"| {a} | {b} | {c} |" for a, b, c in rows] + [""]
        ana = args.analogies or find_eval_file("questions-words.txt")
        if ana:
            r = evaluate_analogies(emb, ana, args.restrict_vocab)
            parts += ["## Google analogies", "", "```", analogy_table(r), "```", ""]
        plot_embeddings(emb, run / "plot-pca.png", arrows=True)
        parts += ["## Pictures", "", "![PCA](plot-pca.png)", ""]
        try:
            plot_embeddings(emb, run / "plot-tsne.png", method="tsne")
            parts += ["![t-SNE](plot-tsne.png)", ""]
        except WordmoreError:
            pass
    else:
        plot_embeddings(emb, run / "plot-pca.png", char=True)
        parts += ["## The characters", "", "![characters](plot-pca.png)", ""]
    from .atomic import atomic_write_text
    atomic_write_text(run / "report.md", "\n".join(parts))
    print(f"wrote {run / 'report.md'}")
    return 0


COMMANDS = {"sample": cmd_sample, "neighbors": cmd_neighbors, "analogy": cmd_analogy,
            "similarity": cmd_similarity, "odd-one-out": cmd_odd, "evaluate": cmd_evaluate,
            "plot": cmd_plot, "export": cmd_export, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        if args.cmd == "train":
            overrides: dict = {}
            for k, v in vars(args).items():
                if "." in k:
                    sec, name = k.split(".", 1)
                    overrides.setdefault(sec, {})[name] = v
            return cmd_train(args, overrides)
        return COMMANDS[args.cmd](args)
    except WordmoreError as e:
        print(f"wordmore: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wordmore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
