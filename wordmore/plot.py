"""Pictures: 2-D projections of embeddings (PCA / t-SNE) and the training curve, as PNG files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .embeddings import SPECIALS, Embeddings
from .errors import WordmoreError
from .royal import DEFAULT_WORDS, GENDER_PAIRS as ARROWS



def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def project(X: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Reduce rows of X to 2-D with PCA or t-SNE (scikit-learn)."""
    if X.shape[1] == 2 and method == "pca":
        return X.astype(np.float64)
    if method == "pca":
        from sklearn.decomposition import PCA
        return PCA(n_components=2, random_state=seed).fit_transform(X)
    if method == "tsne":
        from sklearn.manifold import TSNE
        perp = max(2.0, min(30.0, (len(X) - 1) / 3))
        return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed,
                    metric="cosine").fit_transform(X)
    raise WordmoreError(f"unknown projection {method!r}: choose pca or tsne")


def spread_labels(xy: np.ndarray, w: float, h: float, iters: int = 200) -> np.ndarray:
    """Label positions pushed apart so boxes of size (w, h) overlap as little as possible."""
    pos = xy.astype(np.float64).copy() + np.array([w * 0.1, h * 0.6])
    for _ in range(iters):
        moved = False
        for i in range(len(pos)):
            for j in range(i + 1, len(pos)):
                dx, dy = pos[j] - pos[i]
                if abs(dx) < w and abs(dy) < h:
                    push = (h - abs(dy)) / 2 + 1e-9
                    s = 1.0 if dy >= 0 else -1.0
                    if dy == 0:
                        s = 1.0 if j % 2 else -1.0
                    pos[i, 1] -= s * push
                    pos[j, 1] += s * push
                    moved = True
        if not moved:
            break
    return pos


def plot_embeddings(emb: Embeddings, out, words: list[str] | None = None, method: str = "pca",
                    arrows: bool = False, background: int = 300, title: str = "", char: bool = False) -> Path:
    """Scatter of the chosen words (highlighted) over the most frequent words (faint)."""
    plt = _mpl()
    out = Path(out)
    if char:
        idx = list(range(len(emb)))
        hi = idx
        words = emb.words
    else:
        wanted = list(words or DEFAULT_WORDS)
        hi = [emb.index[k] for k in (emb.key(w) for w in wanted) if k is not None]
        if not hi:
            raise WordmoreError(f"none of the words {', '.join(wanted)} is in the model")
        bg = [i for i, w in enumerate(emb.words[: background + len(SPECIALS)]) if w not in SPECIALS][:background]
        idx = list(dict.fromkeys(hi + bg))
    X = emb.unit[idx] if not char else emb.vectors[idx]
    if method == "pca" and not char and len(hi) >= 3:
        # axes fitted on the chosen words, so they spread out; the background is projected onto them
        from sklearn.decomposition import PCA
        Y = PCA(n_components=2, random_state=0).fit(emb.unit[hi]).transform(X)
    else:
        Y = project(X, method)
    pos = {i: Y[k] for k, i in enumerate(idx)}
    fig, ax = plt.subplots(figsize=(9, 8), dpi=110)
    if not char:
        bgxy = np.array([pos[i] for i in idx if i not in hi]) if len(idx) > len(hi) else np.zeros((0, 2))
        if len(bgxy):
            ax.scatter(bgxy[:, 0], bgxy[:, 1], s=6, c="#bbbbbb", alpha=0.5, linewidths=0)
            for i in [i for i in idx if i not in hi][:60]:
                ax.annotate(emb.words[i], pos[i], fontsize=6, color="#aaaaaa", alpha=0.8)
    hxy = np.array([pos[i] for i in hi])
    colors = ["#d62728" if emb.words[i] in ("king", "queen", "prince", "princess") else
              ("#1f77b4" if not char or emb.words[i] not in "aeiou" else "#d62728") for i in hi]
    ax.scatter(hxy[:, 0], hxy[:, 1], s=60 if not char else 260, c=colors, zorder=3,
               alpha=0.9 if not char else 0.35)
    span = np.ptp(Y, axis=0) + 1e-9
    if char:
        for i in hi:
            ax.text(pos[i][0], pos[i][1], emb.words[i], ha="center", va="center", fontsize=11, zorder=4)
    else:
        lab = spread_labels(hxy, span[0] * 0.08, span[1] * 0.03)
        for k, i in enumerate(hi):
            ax.annotate(emb.words[i], hxy[k], xytext=lab[k], fontsize=11, fontweight="bold", zorder=4,
                        arrowprops={"arrowstyle": "-", "color": "#444444", "lw": 0.8})
    if arrows and not char:
        for a, b in ARROWS:
            ka, kb = emb.key(a), emb.key(b)
            if ka is None or kb is None or emb.index[ka] not in pos or emb.index[kb] not in pos:
                continue
            pa, pb = pos[emb.index[ka]], pos[emb.index[kb]]
            ax.annotate("", xy=pb, xytext=pa, arrowprops={"arrowstyle": "->", "color": "#2ca02c", "lw": 1.8})
    ax.set_title(title or f"{'characters' if char else 'words'}: {method.upper()} of the embedding table C")
    ax.grid(alpha=0.2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_curve(metrics_path, out) -> Path:
    """Training and validation loss against step, from metrics.jsonl."""
    plt = _mpl()
    rows = []
    with open(metrics_path, encoding="utf-8") as f:
        for line in f:
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "step" in d and "val_loss" in d and not d.get("final"):
                rows.append(d)
    if not rows:
        raise WordmoreError(f"{metrics_path}: no evaluation records to plot")
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.plot(steps, [r["train_loss"] for r in rows], label="train (batch)")
    ax.plot(steps, [r["val_loss"] for r in rows], label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
