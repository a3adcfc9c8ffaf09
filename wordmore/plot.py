"""Pictures: 2-D projections of embeddings (PCA / t-SNE) and the training curve, as image files."""
from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .embeddings import SPECIALS, Embeddings
from .errors import WordmoreError

FORMATS = ("png", "pdf", "svg", "jpg", "jpeg")
COLORS = ("#d62728", "#1f77b4", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def picture_path(out) -> Path:
    """The path a picture is written to: .png added when there is no extension, an unknown one refused."""
    p = Path(out)
    ext = p.suffix.lower().lstrip(".")
    if not ext:
        return p.with_name(p.name + ".png")
    if ext not in FORMATS:
        raise WordmoreError(f"cannot write a .{ext} picture ({p}): use .png, .pdf, .svg or .jpg")
    return p


def resolve_words(emb: Embeddings, words: Sequence[str]) -> list[int]:
    """Row ids of words; all unknown words named in one error, with suggested spellings."""
    bad = [w for w in words if emb.key(w) is None]
    if bad:
        def hint(w):
            s = emb.suggest(w, 1)
            return f"{w} (did you mean {s[0]}?)" if s else w
        raise WordmoreError(f"not in the model ({len(emb):,} words): {', '.join(hint(w) for w in bad)}")
    return [emb.index[emb.key(w)] for w in words]


def content_words(emb: Embeddings, n: int, skip: int = 100, exclude=()) -> list[int]:
    """Row ids of n words after the skip most frequent (so not the, of, and), specials left out."""
    ex = set(exclude)
    ids = [i for i, w in enumerate(emb.words) if w not in SPECIALS]
    return [i for i in ids[skip:] if i not in ex][:n]


def project(X: np.ndarray, method: str = "pca", seed: int = 0, dims: int = 2) -> np.ndarray:
    """Reduce rows of X to dims dimensions with PCA or t-SNE (scikit-learn)."""
    if method == "pca":
        if X.shape[1] <= dims:
            return np.pad(X.astype(np.float64), ((0, 0), (0, dims - X.shape[1])))
        from sklearn.decomposition import PCA
        return PCA(n_components=dims, random_state=seed).fit_transform(X)
    if method == "tsne":
        if len(X) < 3:
            raise WordmoreError(f"t-SNE needs at least 3 points to place, not {len(X)}: use --method pca")
        from sklearn.manifold import TSNE
        perp = max(2.0, min(30.0, (len(X) - 1) / 3))
        return TSNE(n_components=dims, perplexity=perp, init="pca", random_state=seed,
                    metric="cosine").fit_transform(X)
    raise WordmoreError(f"unknown projection {method!r}: choose pca or tsne")


def _overlap(a, b, pad: float = 1.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def place_labels(ax, xy: np.ndarray, labels: Sequence[str], placed: list | None = None, optional: bool = False,
                 **text_kw) -> list:
    """Labels beside their points, none overlapping another or the frame; optional ones are dropped when crowded."""
    fig = ax.figure
    r = fig.canvas.get_renderer()
    frame = ax.get_window_extent(r)
    limit = (frame.x0 + 2, frame.y0 + 2, frame.x1 - 2, frame.y1 - 2)
    placed = [] if placed is None else placed  # display-space boxes (x0, y0, x1, y1) already taken
    pts = ax.transData.transform(np.asarray(xy, dtype=np.float64).reshape(-1, 2))  # (n, 2) pixels
    texts = []
    for p, s in zip(pts, labels):
        t = ax.text(0, 0, s, ha="center", va="center", **text_kw)
        bb = t.get_window_extent(r)
        w, h = bb.width, bb.height
        best, best_cost = None, None
        for rad in ((3, 8, 14) if optional else (3, 8, 14, 22, 32, 45, 60, 80, 105, 135, 170, 210, 260)):
            for ang in np.deg2rad([30, 150, 330, 210, 90, 270, 0, 180, 60, 120, 240, 300, 15, 165, 195, 345]):
                c = p + np.array([np.cos(ang) * (rad + w / 2), np.sin(ang) * (rad + h / 2)])
                box = (c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2)
                inside = box[0] >= limit[0] and box[1] >= limit[1] and box[2] <= limit[2] and box[3] <= limit[3]
                cost = sum(_overlap(box, q) for q in placed) + (0 if inside else 100)
                if best_cost is None or cost < best_cost:
                    best, best_cost = (c, box), cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        if optional and best_cost:
            t.remove()
            continue
        c, box = best
        placed.append(box)
        t.set_position(ax.transData.inverted().transform(c))
        if np.hypot(*(c - p)) > max(w, h) / 2 + 12:
            ax.annotate("", xy=ax.transData.inverted().transform(p), xytext=t.get_position(),
                        arrowprops={"arrowstyle": "-", "color": "#666666", "lw": 0.6, "shrinkA": 4, "shrinkB": 2})
        texts.append(t)
    return texts


def highlight_groups(emb: Embeddings, words) -> dict[str, list[int]]:
    """Row ids of the words to highlight, by group, each word once (in its first group); unknown words raise."""
    if not words:
        return {}
    named = dict(words) if isinstance(words, Mapping) else {"highlighted words": list(words)}
    resolve_words(emb, [w for ws in named.values() for w in ws])
    out, seen = {}, set()
    for name, ws in named.items():
        ids = [i for i in resolve_words(emb, ws) if i not in seen]
        seen.update(ids)
        if ids:
            out[name] = ids
    return out


def _title(method: str) -> str:
    return "words: " + {"pca": "PCA", "tsne": "t-SNE"}.get(method, method) + " of the word vectors"


def _fit_pca(emb: Embeddings, X: np.ndarray, hi: list[int], fit: str) -> tuple[np.ndarray, str]:
    from sklearn.decomposition import PCA
    if fit == "words" and len(hi) >= 3:
        return PCA(2, random_state=0).fit(emb.unit[hi]).transform(X), \
            f"PCA axes fitted on the {len(hi)} highlighted words only; the other points are projected onto them"
    if fit == "all":
        keep = [i for i, w in enumerate(emb.words) if w not in SPECIALS]
        return PCA(2, random_state=0).fit(emb.unit[keep]).transform(X), \
            f"PCA axes fitted on all {len(keep):,} words of the model"
    return PCA(2, random_state=0).fit_transform(X), f"PCA axes fitted on the {len(X):,} points shown"


def plot_embeddings(emb: Embeddings, out, words=None, method: str = "pca", arrows: bool = False,
                    background=300, *, pairs: Sequence[tuple[str, str]] = (), skip: int = 100,
                    fit: str = "words", title: str = "", char: bool = False) -> Path:
    """Scatter of highlighted words (a list, or {group: words}) over faint content words; returns the written path."""
    out = picture_path(out)
    if fit not in ("words", "shown", "all"):
        raise WordmoreError(f"unknown fit {fit!r}: choose words, shown or all")
    if method == "tsne" and fit == "all":
        raise WordmoreError("t-SNE is fitted on the points shown; fitting on all words is for PCA")
    if char:
        return _plot_chars(emb, out, method, title)
    groups = highlight_groups(emb, words)
    hi = [i for ids in groups.values() for i in ids]
    if isinstance(background, (int, np.integer)):
        skip = min(skip, max(0, len(emb) - len(SPECIALS) - len(hi) - int(background)))  # a small model keeps some
        bg = content_words(emb, int(background), skip, hi)
        bg_note = f"{len(bg)} content words (frequency ranks {skip + 1:,}-{skip + len(bg):,}, the {skip} most " \
                  f"frequent left out)" if bg else "no background words"
    else:
        bg = [i for i in resolve_words(emb, list(background)) if i not in set(hi)]
        bg_note = f"{len(bg)} chosen background words"
    idx = hi + bg
    if len(idx) < 2:
        raise WordmoreError("nothing to plot: fewer than two words")
    X = emb.unit[idx]  # (n, D)
    if method == "pca":
        Y, how = _fit_pca(emb, X, hi, fit)
    else:
        Y, how = project(X, method), f"t-SNE (cosine) of the {len(idx):,} points shown"
    pos = {i: Y[k] for k, i in enumerate(idx)}
    caption = f"{how}. Grey: {bg_note}."
    return _draw(emb, out, groups, bg, pos, pairs if arrows else (), caption,
                 title or _title(method))


def _draw(emb, out: Path, groups: dict, bg: list, pos: dict, pairs, caption: str, title: str) -> Path:
    plt = _mpl()
    fig = plt.figure(figsize=(9, 8.6), dpi=110)
    ax = fig.add_axes((0.06, 0.17, 0.91, 0.76))
    Y = np.array(list(pos.values()))  # (n, 2)
    lo, hi_ = Y.min(0), Y.max(0)
    pad = (hi_ - lo) * 0.12 + 1e-9
    ax.set_xlim(lo[0] - pad[0], hi_[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi_[1] + pad[1])
    handles = []
    if bg:
        b = np.array([pos[i] for i in bg])  # (nb, 2)
        handles.append(ax.scatter(b[:, 0], b[:, 1], s=7, c="#b0b0b0", alpha=0.6, linewidths=0,
                                  label=f"background ({len(bg)} words)"))
    for k, (name, ids) in enumerate(groups.items()):
        g = np.array([pos[i] for i in ids])  # (ng, 2)
        handles.append(ax.scatter(g[:, 0], g[:, 1], s=60, c=COLORS[k % len(COLORS)], zorder=3, label=name))
    drawn = 0
    for a, b2 in pairs:
        ka, kb = emb.key(a), emb.key(b2)
        if ka is None or kb is None or emb.index[ka] not in pos or emb.index[kb] not in pos:
            continue
        ax.annotate("", xy=pos[emb.index[kb]], xytext=pos[emb.index[ka]], zorder=2,
                    arrowprops={"arrowstyle": "->", "color": "#2ca02c", "lw": 1.6, "shrinkA": 5, "shrinkB": 5})
        drawn += 1
    if drawn:
        from matplotlib.lines import Line2D
        handles.append(Line2D([], [], color="#2ca02c", lw=1.6, label="pairs: " + ", ".join(
            f"{a}→{b}" for a, b in pairs)))
    ax.set_title(title)
    ax.grid(alpha=0.2)
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.065), ncol=min(3, len(handles)),
               fontsize=9, frameon=False)
    fig.text(0.5, 0.012, "\n".join(textwrap.wrap(caption, 120)), ha="center", va="bottom", fontsize=8.5,
             color="#333333")
    fig.canvas.draw()
    hi = [i for ids in groups.values() for i in ids]
    taken = [(p[0] - 5, p[1] - 5, p[0] + 5, p[1] + 5) for p in ax.transData.transform(
        np.array([pos[i] for i in hi]).reshape(-1, 2))]
    place_labels(ax, np.array([pos[i] for i in hi]), [emb.words[i] for i in hi], taken,
                 fontsize=11, fontweight="bold", zorder=4)
    place_labels(ax, np.array([pos[i] for i in bg[:80]]), [emb.words[i] for i in bg[:80]], taken,
                 optional=True, fontsize=6.5, color="#8a8a8a")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _plot_chars(emb: Embeddings, out: Path, method: str, title: str) -> Path:
    plt = _mpl()
    Y = project(emb.vectors, method)  # (V, 2)
    fig, ax = plt.subplots(figsize=(8, 7.4), dpi=110)
    vowel = np.array([w in "aeiou" for w in emb.words])
    for mask, color, name in ((vowel, "#d62728", "vowels"), (~vowel, "#1f77b4", "other characters")):
        ax.scatter(Y[mask, 0], Y[mask, 1], s=260, c=color, alpha=0.35, label=name)
    for k, w in enumerate(emb.words):
        ax.text(Y[k, 0], Y[k, 1], w, ha="center", va="center", fontsize=11, zorder=4)
    ax.legend(loc="best", fontsize=9)
    ax.set_title(title or f"characters: {method.upper()} of the embedding table C")
    fig.text(0.5, 0.01, f"{method.upper()} fitted on all {len(emb)} characters' vectors", ha="center", fontsize=8.5)
    ax.grid(alpha=0.2)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def read_metrics(metrics_path) -> list[dict]:
    """The records of metrics.jsonl, a torn last line skipped."""
    rows = []
    with open(metrics_path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def plot_curve(metrics_path, out) -> Path:
    """Training loss (every logged step) and validation loss (every evaluation) against step."""
    plt = _mpl()
    out = picture_path(out)
    rows = [d for d in read_metrics(metrics_path) if "step" in d]
    tr = [(d["step"], d["train_loss"]) for d in rows if d.get("train_loss") is not None and not d.get("final")]
    va = [(d["step"], d["val_loss"]) for d in rows if d.get("val_loss") is not None]  # the final one included
    if not tr and not va:
        raise WordmoreError(f"{metrics_path}: no loss records to plot")
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if tr:
        ax.plot(*zip(*tr), label=f"train (batch, {len(tr)} points)", marker="." if len(tr) < 30 else None)
    if va:
        ax.plot(*zip(*va), label=f"validation ({len(va)} evaluations)", marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
