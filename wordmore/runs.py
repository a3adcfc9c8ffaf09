"""Run directories without torch: which model answers by default, and a checked read of vocab.json."""
from __future__ import annotations

import json
import math
from pathlib import Path

from .errors import WordmoreError

VECTOR_SUFFIXES = (".vec", ".txt", ".bin", ".kv")


def read_vocab_meta(path: Path) -> dict | None:
    """vocab.json's itos, counts (or None), lowercase and level, checked; None when the file is absent."""
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise WordmoreError(f"{path}: unreadable vocab.json ({type(e).__name__}: {str(e)[:80]}); "
                            "restore it or move it away to query embeddings.vec alone") from None

    def bad(what: str):
        return WordmoreError(f"{path}: malformed vocab.json: {what}; restore it or move it away "
                             "to query embeddings.vec alone")
    if not isinstance(d, dict):
        raise bad(f"expected a JSON object, got {type(d).__name__}")
    itos = d.get("itos")
    if not isinstance(itos, list) or not all(isinstance(w, str) for w in itos):
        raise bad("'itos' must be a list of strings")
    counts = d.get("counts")
    if counts is not None and (not isinstance(counts, list) or len(counts) != len(itos) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)):
        raise bad(f"'counts' must be {len(itos)} non-negative integers, one per word of 'itos'")
    tok = d.get("tokenizer", {})
    if not isinstance(tok, dict):
        raise bad("'tokenizer' must be an object")
    lowercase, level = tok.get("lowercase", True), tok.get("level", "word")
    if not isinstance(lowercase, bool):
        raise bad("'tokenizer.lowercase' must be true or false")
    if level not in ("char", "word"):
        raise bad(f"'tokenizer.level' must be \"char\" or \"word\", got {level!r}")
    return {"itos": itos, "counts": counts, "lowercase": lowercase, "level": level}


def run_level(run: Path) -> str | None:
    """char or word from a run's vocab.json (None if it cannot tell)."""
    try:
        meta = read_vocab_meta(run / "vocab.json")
    except WordmoreError:
        return None
    return meta["level"] if meta else None


def find_runs(root: Path | None = None, need: str = "embeddings.vec") -> list[Path]:
    """Run directories under root (default ./runs) holding `need`, newest first by that file's mtime."""
    root = Path("runs") if root is None else root
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        f = d / need
        try:
            if d.is_dir() and f.is_file():
                found.append((f.stat().st_mtime_ns, d))
        except OSError:
            continue
    return [d for _, d in sorted(found, key=lambda t: (-t[0], str(t[1])))]


def default_model(level: str = "word", root: Path | None = None, need: str = "embeddings.vec") -> Path:
    """The newest `level` run under ./runs (of the current folder only); a clear error when there is none."""
    runs = find_runs(root, need)
    same = [d for d in runs if run_level(d) in (level, None)]
    if same:
        return same[0]
    where = Path("runs") if root is None else root
    train = "wordmore train --level " + level
    if runs:
        raise WordmoreError(f"no {level}-level run under {where}/ (found {runs[0]}, a {run_level(runs[0])} run: "
                            f"pass -m {runs[0]} to use it), or train one with '{train}'")
    flag = "--model RUN_DIR|FILE.vec|FILE.bin" if need == "embeddings.vec" else "-m RUN_DIR"
    raise WordmoreError(f"no model: no run under {where.resolve()} holds {need}; train one here with "
                        f"'{train}' (writes runs/{level}-...) or pass {flag}")


def model_path(arg: str | None, level: str = "word") -> Path:
    """--model as given (checked to exist), else the newest run of the current folder."""
    if not arg:
        return default_model(level)
    p = Path(arg)
    if not p.exists():
        raise WordmoreError(f"no such vectors file or run directory: {p}")
    return p


def run_dir(arg: str | None, level: str = "char") -> Path:
    """A run directory holding ckpt.pt (sample, resume): -m RUN/ckpt.pt or a folder without one explained."""
    if not arg:
        return default_model(level, need="ckpt.pt")
    p = Path(arg)
    if p.is_file() and p.name == "ckpt.pt":
        raise WordmoreError(f"-m takes the run directory, not the checkpoint file: pass -m {p.parent}")
    if p.is_file():
        raise WordmoreError(f"-m {p}: a file; sample needs a run directory (one holding ckpt.pt and vocab.json)")
    if not p.is_dir():
        raise WordmoreError(f"no such run directory: {p} (train one with 'wordmore train --level {level}')")
    if not (p / "ckpt.pt").exists():
        raise WordmoreError(f"{p} holds no ckpt.pt: is it a finished run directory?")
    return p


UNDERTRAINED = 0.8  # a run stopped (budget, signal) before this share of its planned steps says so


def strict_json(d: dict, **kw) -> str:
    """d as JSON that every parser reads: a NaN or infinite number (an empty split's loss) written as null."""
    return json.dumps({k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in d.items()}, **kw)


def undertrained_line(summary: dict) -> str:
    """The warning for a run stopped before 80 % of its plan."""
    return (f"undertrained: stopped at {summary['step']:,} of {summary['planned_steps']:,} steps "
            f"({summary['stopped']}); the vectors are from a model that did not finish its plan: "
            f"continue with --resume, or give it more --minutes")
