"""Command line: wordmore train | encode | sample | neighbors | analogy | similarity | odd-one-out | query | evaluate | plot |
explore | export | report. Modules are imported by the command that needs them: torch only to train or sample."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import WordmoreError, os_message
from .options import SEED_MAX, Parser, add_config_flags, field_choices, field_type


def _int_type(lo: int):
    return field_type(int, {"min": lo})


def _add_train_flags(p: argparse.ArgumentParser, only: tuple = (), skip: tuple = ()) -> None:
    from .config import PRESETS, SECTIONS
    add_config_flags(p, {k: v for k, v in SECTIONS.items() if not only or k in only}, PRESETS, skip)


def _level_flag(p: argparse.ArgumentParser, default: str) -> None:
    from .config import TrainConfig
    f = TrainConfig.__dataclass_fields__["level"]
    p.add_argument("--level", default=default, choices=field_choices(TrainConfig, "level"),
                   help=f"{f.metadata['help']} (default {default})")


def _query_flags(p: argparse.ArgumentParser, k: int | None = 10) -> None:
    p.add_argument("--model", "-m", default="", help="run directory or vectors file (.vec/.txt/.bin, gensim "
                   ".kv); default: the newest word run under ./runs")
    p.add_argument("--limit", type=_int_type(1), default=None, metavar="N",
                   help="read only the first N (most frequent) vectors of the file")
    p.add_argument("--json", action="store_true", help="machine-readable output; errors as JSON on stderr")
    if k is not None:
        p.add_argument("-k", type=_int_type(1), default=k, help=f"how many answers (default {k})")
        p.add_argument("--restrict-vocab", type=_int_type(1), default=None, metavar="N",
                       help="search only the N most frequent words")
        p.add_argument("--method", choices=["add", "mul"], default="add",
                       help="add: gensim's most_similar (3CosAdd); mul: most_similar_cosmul (3CosMul)")


def _training_parsers(sub) -> None:
    p = sub.add_parser("train", help="train a model (char level on names, word level on fairy tales)")
    _level_flag(p, "char")
    p.add_argument("--no-royals", action="store_true", help="word level: do not print the royal table at the end")
    _add_train_flags(p)
    p = sub.add_parser("encode", help="prepare a corpus once, in parallel, and print its folder (train with the "
                       "same data flags reuses it)")
    p.add_argument("dataset", help="catalog name, local file/folder/glob, hub id OWNER/NAME[:CONFIG]")
    _level_flag(p, "word")
    _add_train_flags(p, only=("data", "tokenizer"), skip=("data.dataset",))
    p = sub.add_parser("sample", help="print new names from a char model")
    p.add_argument("--model", "-m", default="", help="run directory (default: the newest char run under ./runs)")
    p.add_argument("-n", "--num", type=field_type(int, {"min": 1, "max": 10**6}), default=20)
    p.add_argument("--temperature", type=field_type(float, {"gt": 0.0, "max": 100.0}), default=1.0)
    p.add_argument("--seed", type=field_type(int, {"min": 0, "max": SEED_MAX}), default=0)


def _query_parsers(sub) -> None:
    p = sub.add_parser("neighbors", help="nearest words: a word, 'king - man + woman', --positive/--negative "
                       "lists or --vector")
    p.add_argument("expr", nargs="*", metavar="WORD", help="a word, or an expression in quotes: 'king - man + woman'")
    p.add_argument("--positive", nargs="+", default=[], metavar="WORD", help="words to add (gensim's positive)")
    p.add_argument("--negative", nargs="+", default=[], metavar="WORD", help="words to subtract (gensim's negative)")
    p.add_argument("--vector", nargs="+", default=None, metavar="X", help="neighbours of these numbers")
    _query_flags(p)
    p = sub.add_parser("analogy", help="A - B + C (king man woman -> queen), query words excluded")
    for name in ("a", "b", "c"):
        p.add_argument(name)
    _query_flags(p, 5)
    p = sub.add_parser("similarity", help="cosine similarity of two words")
    p.add_argument("a")
    p.add_argument("b")
    _query_flags(p, None)
    p = sub.add_parser("odd-one-out", help="the word that does not belong")
    p.add_argument("words", nargs="+")
    _query_flags(p, None)
    from .query import STREAM_HELP
    p = sub.add_parser("query", help="many queries, one load: one query per line on stdin (JSON lines with --json)",
                       description=STREAM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _query_flags(p)
    p = sub.add_parser("evaluate", help="Google analogies and word-similarity scores, with coverage")
    _query_flags(p, None)
    p.add_argument("--analogies", default=None, help="Google-format file; a bare name is also looked for beside "
                   "$WORDMORE_DATA (default: questions-words.txt there, if present)")
    p.add_argument("--similarity", default=None, help="word-pair file, tab-separated (default: wordsim353.tsv "
                   "beside $WORDMORE_DATA, if present)")
    p.add_argument("--restrict-vocab", type=_int_type(1), default=30000, metavar="N",
                   help="questions and pairs among the N most frequent words (default 30000)")
    p.add_argument("--method", choices=["add", "mul"], default="add")
    p.add_argument("--case-sensitive", action="store_true")


def _picture_parsers(sub) -> None:
    p = sub.add_parser("plot", help="PCA / t-SNE picture of the embeddings (png, pdf, svg or jpg)")
    p.add_argument("--model", "-m", default="")
    p.add_argument("--out", "-o", default="", help="picture path; .png added when it has no extension "
                   "(default <run>/plot-<method>.png)")
    p.add_argument("--method", choices=["pca", "tsne"], default="pca")
    p.add_argument("--words", nargs="+", default=None, help="words to highlight (default: the royals and gender pairs)")
    p.add_argument("--arrows", action="store_true", help="draw man->woman, king->queen, ... offsets")
    p.add_argument("--background", type=_int_type(0), default=300, help="faint content words behind them")
    p.add_argument("--skip-frequent", type=_int_type(0), default=100, metavar="K",
                   help="background words start after the K most frequent (the, of, and ...)")
    p.add_argument("--fit", choices=["words", "shown", "all"], default="words",
                   help="PCA axes fitted on the highlighted words, the points shown, or all words")
    p = sub.add_parser("explore", help="one self-contained HTML page: 3-D map, neighbour search, groups")
    p.add_argument("--model", "-m", default="")
    p.add_argument("--out", "-o", default="explore.html", help="HTML path (default explore.html)")
    p.add_argument("--words", nargs="+", default=None, help="words to highlight as one more group")
    p.add_argument("--groups", default=None, metavar="FILE", help="groups to highlight, one 'name: word word ...' a line")
    p.add_argument("--top", type=_int_type(4), default=5000, metavar="N",
                   help="the N most frequent words go on the map and into the search box")
    p.add_argument("-k", type=_int_type(1), default=10, help="neighbours listed per word")
    p.add_argument("--methods", nargs="+", choices=["pca", "tsne", "umap"], default=["pca", "tsne", "umap"],
                   help="projections in the page (UMAP only where umap-learn is installed)")
    p.add_argument("--fit-max", type=_int_type(4), default=1000, metavar="N",
                   help="t-SNE and UMAP are fitted on the first N map words (the highlighted, then the most frequent)")
    p = sub.add_parser("export", help="word2vec text/binary or TensorBoard projector files")
    p.add_argument("--model", "-m", default="")
    p.add_argument("--format", choices=["word2vec", "word2vec-bin", "projector"], default="word2vec")
    p.add_argument("--out", "-o", required=True, help="file (word2vec) or folder (projector)")
    p.add_argument("--limit", type=_int_type(1), default=None, metavar="N", help="export only the first N words")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p = sub.add_parser("report", help="Markdown report of a run: the answer, scores, curve, pictures, explorer page")
    p.add_argument("run", help="run directory")
    p.add_argument("--analogies", default=None)
    p.add_argument("--similarity", default=None)
    p.add_argument("--restrict-vocab", type=_int_type(1), default=30000)
    p.add_argument("--no-explorer", action="store_true", help="do not write explore.html beside the report")


def build_parser() -> argparse.ArgumentParser:
    """The wordmore argument parser."""
    from . import __version__
    ap = Parser(prog="wordmore", description="makemore's context-window MLP over characters "
                "or words: train it, then ask whether king, queen, prince and princess are near.")
    ap.add_argument("--version", action="version", version=f"wordmore {__version__}")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True
    _training_parsers(sub)
    _query_parsers(sub)
    _picture_parsers(sub)
    return ap


# ---------------------------------------------------------------- commands

def _model_path(arg: str, level: str = "word") -> Path:
    from .runs import model_path
    return model_path(arg, level)


def _load_emb(args):
    from .embeddings import Embeddings
    return Embeddings.load(_model_path(args.model), limit=getattr(args, "limit", None))


def _highlights() -> dict:
    from .royal import DEFAULT_WORDS, ROYALS
    return {"royals": list(ROYALS), "gender pairs": [w for w in DEFAULT_WORDS if w not in ROYALS]}


def cmd_train(args, overrides) -> int:
    from .config import resolve_config
    cfg = resolve_config(args.level, overrides).validate()
    from .runs import undertrained_line
    from .train import train
    summary = train(cfg, given=overrides)
    if summary.get("interrupted"):
        return 130
    if cfg.train.level == "word" and not args.no_royals and int(os.environ.get("RANK", 0)) == 0:
        from .embeddings import Embeddings
        from .royal import royal_report
        print(royal_report(Embeddings.load(summary["run_dir"])))
        if summary.get("undertrained"):
            print(undertrained_line(summary))
    return 0


def cmd_encode(args, overrides) -> int:
    from .config import resolve_config
    from .corpus import encode
    overrides.setdefault("data", {})["dataset"] = args.dataset
    cfg = resolve_config(args.level, overrides).validate()
    encode(cfg.data, cfg.tokenizer, log=lambda *a: print(*a, file=sys.stderr))
    return 0


def cmd_sample(args) -> int:
    from .runs import run_dir
    path = run_dir(args.model, "char")  # before torch: a wrong -m answers at once
    from .checkpoint import load_model
    from .sample import check_samplable, sample_units, training_units
    model, vocab, cfg, state = load_model(path)
    check_samplable(model, cfg)  # before the training text is looked for
    seen = training_units(cfg, vocab)
    print(f"model: {path} (step {state['step']:,}), temperature {args.temperature:g}, seed {args.seed}")
    for text in sample_units(model, vocab, cfg, args.num, args.temperature, args.seed):
        print((text or "(empty)") + ("" if seen is None else ("  (in train)" if text in seen else "  (new)")))
    return 0


def _answer(args, q) -> int:
    from .query import answer, model_line, to_text
    emb = _load_emb(args)
    d = answer(emb, q)
    print(json.dumps(d, ensure_ascii=False) if args.json else f"{model_line(emb)}\n{to_text(d)}")
    return 0


def cmd_neighbors(args) -> int:
    from .query import build_query
    return _answer(args, build_query(args.expr, args.positive, args.negative, args.vector, args.k,
                                     args.restrict_vocab, args.method))


def cmd_analogy(args) -> int:
    from .query import analogy_query
    return _answer(args, analogy_query(args.a, args.b, args.c, args.k, args.restrict_vocab, args.method))


def cmd_similarity(args) -> int:
    from .query import Query
    return _answer(args, Query("similarity", words=[args.a, args.b]))


def cmd_odd(args) -> int:
    from .query import Query
    return _answer(args, Query("odd-one-out", words=args.words))


def cmd_query(args) -> int:
    from .query import run_stream
    emb = _load_emb(args)
    failed = run_stream(emb, sys.stdin, as_json=args.json, k=args.k, restrict=args.restrict_vocab, method=args.method)
    return 1 if failed else 0


def cmd_evaluate(args) -> int:
    from .embeddings import fmt_table
    from .evaluate import analogy_json, analogy_table, eval_files, evaluate_analogies, evaluate_pairs
    from .query import model_line
    ana, sim = eval_files(args.analogies, args.similarity)  # both checked before any work
    emb = _load_emb(args)
    out, ci = {"model": emb.source, "restrict_vocab": args.restrict_vocab}, not args.case_sensitive
    if not args.json:
        print(model_line(emb))
    if ana:
        r = evaluate_analogies(emb, ana, args.restrict_vocab, ci, args.method)
        out["analogies"] = analogy_json(r)
        if not args.json:
            print(f"analogies: {ana}\n" + analogy_table(r))
    if sim:
        r = out["similarity"] = evaluate_pairs(emb, sim, args.restrict_vocab, ci)
        if not args.json:
            print(f"\nword similarity: {sim}\n" + fmt_table(
                [(Path(sim).name, r["spearman"], r["pearson"], f"{r['seen']}/{r['pairs']}")],
                ("file", "spearman", "pearson", "pairs covered")))
            if r["note"]:
                print(f"({r['note']})")
    if args.json:
        print(json.dumps(out, ensure_ascii=False, default=float))
    return 0


def _is_char(path: Path) -> bool:
    from .runs import run_level
    return path.is_dir() and run_level(path) == "char"


def cmd_plot(args) -> int:
    from .plot import plot_embeddings
    from .royal import GENDER_PAIRS
    path = _model_path(args.model)
    emb = _load_emb(args)
    out = args.out or (str(path / f"plot-{args.method}.png") if path.is_dir() else f"plot-{args.method}.png")
    written = plot_embeddings(emb, out, args.words or _highlights(), args.method, args.arrows, args.background,
                              pairs=GENDER_PAIRS, skip=args.skip_frequent, fit=args.fit, char=_is_char(path))
    print(f"wrote {written}")
    return 0


def cmd_explore(args) -> int:
    from .explore import read_groups, write_explorer
    from .royal import GENDER_PAIRS
    path = _model_path(args.model)
    emb = _load_emb(args)
    groups = read_groups(args.groups) if args.groups else (None if args.words else _highlights())
    written = write_explorer(emb, args.out, words=args.words, groups=groups, pairs=GENDER_PAIRS, top=args.top,
                             k=emb.check_k(args.k), methods=args.methods, fit_max=args.fit_max,
                             title=f"wordmore explorer: {path.name}")
    print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB; open it in a browser, no server needed)")
    return 0


def cmd_export(args) -> int:
    from .vecio import check_target
    check_target(args.out, args.force, "folder" if args.format == "projector" else "file")  # before loading
    emb = _load_emb(args)
    if args.format == "projector":
        v, m = emb.save_projector(args.out, force=args.force)
        print(f"wrote {v} and {m} (load both at projector.tensorflow.org)")
    else:
        emb.save_word2vec(args.out, binary=args.format == "word2vec-bin", force=args.force)
        print(f"wrote {args.out} ({len(emb):,} x {emb.dim})")
    return 0


def cmd_report(args) -> int:
    from .report import write_report
    written = write_report(args.run, args.analogies, args.similarity, args.restrict_vocab,
                           explorer=not args.no_explorer)
    print(f"wrote {written}")
    return 0


COMMANDS = {"sample": cmd_sample, "neighbors": cmd_neighbors, "analogy": cmd_analogy, "similarity": cmd_similarity,
            "odd-one-out": cmd_odd, "query": cmd_query, "evaluate": cmd_evaluate, "plot": cmd_plot,
            "explore": cmd_explore, "export": cmd_export, "report": cmd_report}


def main_error(args, message: str) -> int:
    """Print one error line (JSON on stderr with --json); the exit code is 1."""
    if getattr(args, "json", False):
        from .query import error_json
        print(error_json(message), file=sys.stderr)
    else:
        print(f"wordmore: error: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        if args.cmd in ("train", "encode"):
            overrides: dict = {}
            for k, v in vars(args).items():
                if "." in k:
                    sec, name = k.split(".", 1)
                    overrides.setdefault(sec, {})[name] = v
            return (cmd_train if args.cmd == "train" else cmd_encode)(args, overrides)
        return COMMANDS[args.cmd](args)
    except WordmoreError as e:
        return main_error(args, str(e))
    except BrokenPipeError:  # `wordmore query ... | head`: the reader has what it wanted (before OSError, its base)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # a full disk, a read-only folder, a path that is a file: one line, never a traceback
        return main_error(args, os_message(e))
    except KeyboardInterrupt:
        print("wordmore: interrupted", file=sys.stderr)
        return 130
