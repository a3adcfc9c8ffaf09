import json

import numpy as np

from wordmore.embeddings import Embeddings
from wordmore.plot import plot_curve, plot_embeddings, project, spread_labels


def test_labels_are_spread_apart():
    xy = np.zeros((6, 2))  # six labels on one spot
    pos = spread_labels(xy, 1.0, 0.5)
    for i in range(6):
        for j in range(i + 1, 6):
            assert abs(pos[i, 1] - pos[j, 1]) >= 0.5 - 1e-6 or abs(pos[i, 0] - pos[j, 0]) >= 1.0


def test_pca_projection_keeps_the_main_axis():
    X = np.zeros((10, 5))
    X[:, 2] = np.arange(10)
    Y = project(X, "pca")
    assert Y.shape == (10, 2) and np.ptp(Y[:, 0]) > 8 and np.ptp(Y[:, 1]) < 1e-6


def test_plots_write_pngs(tmp_path):
    words = ["<s>", "king", "queen", "man", "woman"] + [f"w{i}" for i in range(30)]
    emb = Embeddings(words, np.random.default_rng(0).normal(size=(len(words), 6)))
    p = plot_embeddings(emb, tmp_path / "a.png", arrows=True, background=20)
    assert p.read_bytes()[:4] == b"\x89PNG"
    m = tmp_path / "metrics.jsonl"
    m.write_text("\n".join(json.dumps({"step": s, "train_loss": 3 - s / 10, "val_loss": 3.1 - s / 10})
                           for s in range(1, 5)) + "\n")
    assert plot_curve(m, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
