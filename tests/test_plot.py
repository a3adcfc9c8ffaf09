import json

import numpy as np
import pytest

from wordmore.embeddings import Embeddings
from wordmore.errors import WordmoreError
from wordmore.plot import (_mpl, content_words, picture_path, place_labels, plot_curve, plot_embeddings, project,
                           resolve_words)

ROYAL = {"king": [1, 1, 1], "queen": [-1, 1, 1], "man": [1, 0, 1], "woman": [-1, 0, 1]}


@pytest.fixture
def emb():
    rng = np.random.default_rng(0)
    words = ["<s>", "<unk>", "the", "of", "and"] + list(ROYAL) + [f"w{i}" for i in range(40)]
    V = rng.normal(size=(len(words), 6)) * 0.3  # (V, 6)
    for w, v in ROYAL.items():
        V[words.index(w), :3] = v
    return Embeddings(words, V, lowercase=True)


def test_labels_on_one_spot_neither_overlap_nor_leave_the_frame():
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.canvas.draw()
    xy = np.array([[0.98, 0.98]] * 6)  # six labels on one spot in a corner
    texts = place_labels(ax, xy, [f"label{i}" for i in range(6)], fontsize=10)
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in texts]
    frame = ax.get_window_extent(r)
    assert len(boxes) == 6
    for i, a in enumerate(boxes):
        assert frame.x0 <= a.x0 and a.x1 <= frame.x1 and frame.y0 <= a.y0 and a.y1 <= frame.y1
        assert not any(a.overlaps(b) for b in boxes[i + 1:])
    plt.close(fig)


def test_tsne_of_too_few_points_is_one_clear_error():
    with pytest.raises(WordmoreError, match="t-SNE needs at least 3 points to place, not 2: use --method pca"):
        project(np.eye(2, 4), "tsne")
    assert project(np.eye(3, 4), "tsne").shape == (3, 2)


def test_pca_projection_keeps_the_main_axis():
    X = np.zeros((10, 5))
    X[:, 2] = np.arange(10)
    Y = project(X, "pca")
    assert Y.shape == (10, 2) and np.ptp(Y[:, 0]) > 8 and np.ptp(Y[:, 1]) < 1e-6


def test_background_is_content_words(emb):
    bg = content_words(emb, 5, skip=3, exclude=[emb.index["king"]])
    assert [emb.words[i] for i in bg] == ["queen", "man", "woman", "w0", "w1"]


def test_unknown_words_named_in_one_error(emb):
    with pytest.raises(WordmoreError, match=r"queenn \(did you mean queen\?\), zzz"):
        resolve_words(emb, ["king", "queenn", "zzz"])
    with pytest.raises(WordmoreError, match="queenn"):
        plot_embeddings(emb, "x.png", ["king", "queenn"])


@pytest.mark.parametrize("name, written", [("a.png", "a.png"), ("a.SVG", "a.SVG"), ("noext", "noext.png")])
def test_printed_path_is_the_written_path(emb, tmp_path, name, written):
    p = plot_embeddings(emb, tmp_path / name, ["king", "queen"], background=10)
    assert p == tmp_path / written and p.exists() and len(list(tmp_path.iterdir())) == 1


def test_bad_extension_is_one_clear_error(tmp_path):
    with pytest.raises(WordmoreError, match=r"cannot write a \.jpgg picture.*use \.png"):
        picture_path(tmp_path / "x.jpgg")


def test_groups_arrows_and_fit_choices_write_pictures(emb, tmp_path):
    groups = {"royals": ["king", "queen"], "others": ["man", "woman"]}
    for fit in ("words", "shown", "all"):
        p = plot_embeddings(emb, tmp_path / f"{fit}.png", groups, arrows=True, pairs=[("man", "woman")], fit=fit)
        assert p.read_bytes()[:4] == b"\x89PNG"
    assert plot_embeddings(emb, tmp_path / "t.pdf", groups, method="tsne").read_bytes()[:4] == b"%PDF"
    with pytest.raises(WordmoreError, match="fitting on all words is for PCA"):
        plot_embeddings(emb, tmp_path / "t.png", groups, method="tsne", fit="all")


def test_curve_includes_the_final_evaluation(tmp_path):
    m = tmp_path / "metrics.jsonl"
    m.write_text("\n".join(json.dumps({"step": s, "train_loss": 3 - s / 10, "val_loss": 3.1 - s / 10})
                           for s in range(1, 3)) + "\n" + json.dumps({"final": True, "step": 3, "val_loss": 2.5}))
    assert plot_curve(m, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    m.write_text('{"step": 1}\n')
    with pytest.raises(WordmoreError, match="no loss records"):
        plot_curve(m, tmp_path / "d.png")
