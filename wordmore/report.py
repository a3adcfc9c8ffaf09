"""The Markdown report of a run: the answer first (royals, analogy, scores), then training, pictures, configuration."""
from __future__ import annotations

import json
import math
from pathlib import Path

from .atomic import atomic_write_text
from .embeddings import Embeddings
from .errors import WordmoreError
from .evaluate import evaluate_analogies, evaluate_pairs, find_eval_file
from .royal import DEFAULT_WORDS, GENDER_PAIRS, ROYALS, royal_check


def fmt_num(x) -> str:
    """A number as a person reads it: 65,149 steps, 5.164 loss, 1.2e-05 rates."""
    if x is None:  # a loss written as null: an empty split
        return "-"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 0.01:
        return f"{x:.4g}"
    return f"{x:.2e}"


def _read_json(p: Path) -> dict:
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise WordmoreError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None


def undertrained(summary: dict, config: dict) -> str:
    """'undertrained: stopped at N of M steps' when the run stopped early, else ''."""
    step = summary.get("step")
    max_steps = summary.get("planned_steps") or config.get("train", {}).get("max_steps")
    short = isinstance(step, int) and isinstance(max_steps, int) and max_steps > 0 and step < 0.8 * max_steps
    if not (summary.get("undertrained") or short):
        return ""
    why = f" ({summary['stopped']})" if summary.get("stopped") else ""
    if isinstance(step, int) and isinstance(max_steps, int):
        return f"undertrained: stopped at {step:,} of {max_steps:,} steps{why}"
    return f"undertrained{why}"


def _royal_section(emb: Embeddings) -> list[str]:
    missing = [w for w in ROYALS + ("man", "woman") if emb.key(w) is None]
    if missing:
        return [f"Not in the vocabulary: {', '.join(missing)}, so the royal check cannot run.", ""]
    chk = royal_check(emb)
    verdict = "**Yes**: each royal has the other three in its top 10" if chk["all_in_top"] else \
        "**Not yet**: some royals miss others in their top 10"
    lines = [verdict + ".", "", "| word | other royals in its top 10 (rank) | nearest 5 (cosine) |", "|---|---|---|"]
    for row in chk["rows"]:
        ranks = ", ".join(f"{o} ({r})" for o, r in row["ranks"].items() if r) or "none"
        top = ", ".join(f"{w} {s:.2f}" for w, s in emb.neighbors(row["word"], 5))
        lines.append(f"| {row['word']} | {ranks} | {top} |")
    ana = ", ".join(f"{w} {s:.2f}" for w, s in chk["analogy"])
    mark = "queen comes first" if chk["queen_first"] else "queen is not first"
    return lines + ["", f"king − man + woman = {ana} ({mark}).", ""]


def _scores(emb: Embeddings, analogies, similarity, restrict_vocab: int) -> list[str]:
    rows = []
    ana = analogies or find_eval_file("questions-words.txt")
    if ana:
        r = evaluate_analogies(emb, ana, restrict_vocab)
        for key in ("semantic", "syntactic", "total"):
            s = r[key]
            acc = f"{100 * s.accuracy:.1f} %" if s.seen else "-"
            rows.append(f"| Google analogies, {key} | {acc} | {s.seen:,} of {s.seen + s.skipped:,} questions |")
    sim = similarity or find_eval_file("wordsim353.tsv")
    if sim:
        r = evaluate_pairs(emb, sim, restrict_vocab)
        rho = "-" if r["spearman"] is None else f"{r['spearman']:.3f}"
        rows.append(f"| {Path(sim).stem} (Spearman ρ) | {rho} | {r['seen']:,} of {r['pairs']:,} pairs |")
    if not rows:
        return ["No benchmark files found (pass analogies= / similarity=, or put questions-words.txt and "
                "wordsim353.tsv in an eval/ folder beside $WORDMORE_DATA).", ""]
    return [f"| benchmark | score | covered (among the {restrict_vocab:,} most frequent words) |",
            "|---|---:|---|", *rows, ""]


def _training(run: Path, summary: dict, config: dict) -> list[str]:
    from .plot import plot_curve, read_metrics
    keys = ("step", "stopped", "val_loss", "test_loss", "train_seconds", "tokens_per_s", "device")
    lines = ["## Training", "", "| | |", "|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {fmt_num(summary[k])} |" for k in keys if k in summary]
    lines.append("")
    mp = run / "metrics.jsonl"
    if mp.exists():
        evals = [d for d in read_metrics(mp) if d.get("val_loss") is not None]
        try:
            plot_curve(mp, run / "curve.png")
            lines += ["![training curve](curve.png)", ""]
        except WordmoreError as e:
            lines += [f"(no curve: {e})", ""]
        if len(evals) < 20:
            every = max(1, config.get("train", {}).get("max_steps", 20) // 20)
            lines += [f"The curve has only {len(evals)} evaluation(s); `--eval-every {every}` gives about 20.", ""]
    return lines


def write_report(run_dir, analogies=None, similarity=None, restrict_vocab: int = 30000, explorer: bool = True,
                 tsne: bool = True) -> Path:
    """Write <run>/report.md (and its pictures, and explore.html when plotly is installed); returns its path."""
    from .plot import plot_embeddings
    run = Path(run_dir)
    if not run.is_dir():
        raise WordmoreError(f"no such run directory: {run}")
    emb = Embeddings.load(run)
    config, summary = _read_json(run / "config.json"), _read_json(run / "summary.json")
    char = config.get("tokenizer", {}).get("level") == "char"
    parts = [f"# wordmore report: {run.name}", ""]
    flag = undertrained(summary, config)
    if flag:
        parts += [f"> **{flag}.** Its neighbours and scores are those of an unfinished model.", ""]
    if not char:
        parts += ["## Are king, queen, prince and princess near each other?", "", *_royal_section(emb),
                  "## Scores", "", *_scores(emb, analogies, similarity, restrict_vocab)]
    parts += _training(run, summary, config)
    parts += ["## Pictures", ""]
    if char:
        plot_embeddings(emb, run / "plot-pca.png", char=True)
        parts += ["![characters](plot-pca.png)", ""]
    else:
        present = [w for w in DEFAULT_WORDS if emb.key(w) is not None]
        groups = {"royals": [w for w in present if w in ROYALS], "others": [w for w in present if w not in ROYALS]}
        groups = {k: v for k, v in groups.items() if v}
        plot_embeddings(emb, run / "plot-pca.png", groups, arrows=True, pairs=GENDER_PAIRS)
        parts += ["![PCA](plot-pca.png)", ""]
        if tsne:
            plot_embeddings(emb, run / "plot-tsne.png", groups, method="tsne")
            parts += ["![t-SNE](plot-tsne.png)", ""]
        parts += _explorer_link(emb, run, groups, explorer)
    if config:
        parts += ["<details><summary>Configuration (config.json)</summary>", "", "```json",
                  json.dumps(config, indent=1), "```", "", "</details>", ""]
    out = run / "report.md"
    atomic_write_text(out, "\n".join(parts))
    return out


def _explorer_link(emb: Embeddings, run: Path, groups: dict, explorer: bool) -> list[str]:
    cmd = f"`wordmore explore -m {run} -o {run / 'explore.html'}`"
    if not explorer:
        return [f"Explore the map in 3-D: {cmd}.", ""]
    from .explore import write_explorer
    try:
        write_explorer(emb, run / "explore.html", groups=groups, pairs=GENDER_PAIRS, top=2000, methods=("pca", "tsne"),
                       fit_max=500, title=f"wordmore explorer: {run.name}")
    except WordmoreError as e:
        return [f"(no explorer page: {e}; {cmd} once it is fixed)", ""]
    return ["Explore the map in 3-D, with a neighbour search: [explore.html](explore.html) "
            "(one self-contained page; open it in a browser).", ""]
