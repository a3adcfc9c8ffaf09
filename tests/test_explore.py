import json
import re
import shutil
import sys

import numpy as np
import pytest

from wordmore.embeddings import Embeddings
from wordmore.errors import WordmoreError
from wordmore.explore import _frame, neighbour_table, read_groups, write_explorer

ROYAL = {"king": [1, 1, 1], "queen": [-1, 1, 1], "man": [1, 0, 1], "woman": [-1, 0, 1],
         "prince": [1, 1, -1], "princess": [-1, 1, -1], "boy": [1, 0, -1], "girl": [-1, 0, -1]}
GROUPS = {"royals": ["king", "queen", "prince", "princess"], "gender pairs": ["man", "woman", "boy", "girl"]}
PAIRS = [("man", "woman"), ("king", "queen")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def emb():
    """Gender, royalty and age on three axes (analogies hold), 80 background words mostly on the other five."""
    rng = np.random.default_rng(0)
    words = ["<s>", "<unk>", "the", "of"] + list(ROYAL) + [f"w{i}" for i in range(80)]
    V = np.zeros((len(words), 8))  # (V, 8)
    V[:, 3:] = rng.normal(size=(len(words), 5))
    V[:, :3] = rng.normal(size=(len(words), 3)) * 0.1
    for w, v in ROYAL.items():
        V[words.index(w)] = v + [0] * 5
    return Embeddings(words, V, lowercase=True, source="synthetic")


@pytest.fixture(scope="module")
def page(emb, tmp_path_factory):
    pytest.importorskip("plotly")
    out = tmp_path_factory.mktemp("explore") / "explore.html"
    return write_explorer(emb, out, groups=GROUPS, pairs=PAIRS, top=60, methods=("pca", "tsne"), fit_max=40)


def _payload(page, name="wm-data") -> dict:
    html = page.read_text(encoding="utf-8")
    return json.loads(re.search(rf'id="{name}">(.*?)</script>', html, re.S).group(1))


def test_neighbour_table_matches_neighbors(emb):
    ids = [emb.index[w] for w in ("king", "girl", "w3", "the")]
    nb, cos = neighbour_table(emb, ids, 7, chunk=3)
    for r, i in enumerate(ids):
        want = emb.neighbors(emb.words[i], 7)
        assert [emb.words[j] for j in nb[r]] == [w for w, _ in want]
        assert np.allclose(cos[r], [s for _, s in want], atol=1e-6)


def test_neighbour_table_ranks_the_whole_model_and_breaks_ties_by_frequency():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 4)).astype(np.float32)  # (3000, 4): more columns than one group of 1024 per row
    X[1500:] = X[:1500]  # each word has a twin with the same vector: equal cosines, the more frequent first
    e = Embeddings(["<s>", "<unk>"] + [f"x{i}" for i in range(2998)], X)
    ids = [5, 1700, 2999, 2]
    nb, cos = neighbour_table(e, ids, 12, chunk=4)
    S = e.unit[ids] @ e.unit.T  # (4, 3000)
    for r, i in enumerate(ids):
        want = [j for j in sorted(range(3000), key=lambda j: (-S[r, j], j)) if j not in (i, 0, 1)][:12]
        assert nb[r].tolist() == want and np.array_equal(cos[r], S[r, want])
    assert nb[0, 0] == 1505 and nb[2, 0] == 1499  # the twin


def test_page_is_self_contained_and_holds_the_neighbours(emb, page):
    html = page.read_text(encoding="utf-8")
    assert "<script src=" not in html and "Plotly.newPlot" in html  # plotly.js inlined: opens offline
    assert "plotly.js (gl3d - minified) v" in html and "plotly.js v" not in html  # the 3-D bundle, not the full one
    d = _payload(page)
    king = d["words"].index("king")
    got = [(d["words"][j], c) for j, c in zip(d["nb"][king], d["cos"][king])]
    assert [w for w, _ in got] == [w for w, _ in emb.neighbors("king", 10)]
    assert got[1][1] == pytest.approx(round(emb.neighbors("king", 2)[1][1], 4))
    assert "PCA: axes fitted on all 90 words" in html and "t-SNE" in html and "fitted on and showing" in html
    assert "the 60 most frequent and highlighted of the 90 words" in html


def test_map_opens_on_the_highlighted_words(page):
    fig = _payload(page, "wm-fig")
    scene = fig["layout"]["scene"]
    assert [a["text"] for a in scene["annotations"]] == [w for g in GROUPS.values() for w in g]  # labels in SVG
    all_words = next(t for t in fig["data"] if t["meta"]["role"] == "all")
    assert all_words["x"]["dtype"] == "f4" and all_words["meta"]["n"] == 60  # compact: base64 float32
    eye, center = (np.array([scene["camera"][k][a] for a in "xyz"]) for k in ("eye", "center"))
    assert np.linalg.norm(eye - center) < np.linalg.norm([1.25] * 3)  # nearer than plotly's default view
    tsne = next(b for b in fig["layout"]["updatemenus"][0]["buttons"] if b["label"] == "t-SNE")["args"][1]
    assert len(tsne["scene.annotations"]) == 8 and tsne["scene.camera"] != scene["camera"]


def test_frame_looks_at_the_rows_from_a_side_that_separates_them():
    rng = np.random.default_rng(1)
    Y = rng.uniform(0, 10, size=(300, 3))  # (n, 3)
    Y[:4] = [[8.8, 8.8, 8.8], [9.0, 9.0, 9.0], [9.2, 9.2, 9.2], [9.4, 9.4, 9.4]]  # a row along plotly's default view
    view = _frame(Y, [0, 1, 2, 3])
    lo, hi = np.array(view["ranges"]).T  # (3,) each
    assert (lo <= Y.min(0)).all() and (hi >= Y.max(0)).all()
    center = np.array([view["camera"]["center"][a] for a in "xyz"])
    assert np.allclose(center, (Y[[0, 3]].mean(0) - (lo + hi) / 2) / (hi - lo), atol=1e-3)  # the rows' middle
    look = np.array([view["camera"]["eye"][a] for a in "xyz"]) - center
    assert abs(look @ np.ones(3)) / np.linalg.norm(look) / np.sqrt(3) < 0.95  # not end-on: the rows spread out
    assert _frame(Y, [5])["camera"]["eye"] == {"x": 1.25, "y": 1.25, "z": 1.25}  # one word: plotly's default view


def test_bad_input_gives_one_clear_error(emb, tmp_path):
    pytest.importorskip("plotly")
    with pytest.raises(WordmoreError, match="ending in .html"):
        write_explorer(emb, tmp_path / "x.png")
    with pytest.raises(WordmoreError, match=r"queenn \(did you mean queen\?\), zzz"):
        write_explorer(emb, tmp_path / "x.html", words=["king", "queenn", "zzz"], methods=("pca",))


def test_missing_plotly_says_how_to_install(emb, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(WordmoreError, match="pip install plotly"):
        write_explorer(emb, tmp_path / "x.html")


def test_groups_file(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("# mine\nroyals: king queen\nfood: bread  apple # fruit\n")
    assert read_groups(p) == {"royals": ["king", "queen"], "food": ["bread", "apple"]}
    p.write_text("royals king queen\n")
    with pytest.raises(WordmoreError, match=r"g.txt:1: expected 'group name: word"):
        read_groups(p)
    p.write_bytes(bytes(range(128, 256)) * 4)  # binary, not UTF-8: the same one line, no UnicodeDecodeError
    with pytest.raises(WordmoreError, match=r"g.txt:1: expected 'group name: word"):
        read_groups(p)
    with pytest.raises(WordmoreError, match="no such groups file"):
        read_groups(tmp_path)  # a folder


BOXES = "els => els.map(e => { const r = e.getBoundingClientRect(); return [e.textContent, r.left, r.top, r.right, r.bottom]; })"


def _browser():
    sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return sync.sync_playwright


def test_page_in_headless_chromium(page, tmp_path):
    sync_playwright = _browser()
    from PIL import Image
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--enable-unsafe-swiftshader", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            pg = b.new_page(viewport={"width": 1200, "height": 850})
            errors = []
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(page.as_uri())
            pg.wait_for_function("window.__ready === true", timeout=60000)
            marks = pg.evaluate("performance.getEntriesByType('mark').map(m => m.name)")
            plot = pg.eval_on_selector("#wm-plot", "e => { const r = e.getBoundingClientRect(); "
                                       "return [r.left, r.top, r.right, r.bottom]; }")
            # plotly lays the scene's labels out in frames after the map's first, sooner or later by host: their
            # boxes are taken in one go once all of them have a size
            laid_out = ("(() => { const b = (" + BOXES + ")([...document.querySelectorAll('.annotation-scene')]); "
                        "return b.length && b.every(x => x[3] > x[1]) ? b : null; })()")
            labels = pg.wait_for_function(laid_out, timeout=10000).json_value()
            pg.evaluate("document.getElementById('wm-plot').on('plotly_hover', d => { window.hov = d.points[0].text; })")
            word, x0, y0, x1, y1 = labels[0]
            pg.mouse.move(x0 - 20, y1 + 2)
            pg.mouse.move((x0 + x1) / 2, (y0 + y1) / 2 + 11, steps=4)  # onto the point under the label
            pg.wait_for_function("window.hov !== undefined", timeout=5000)
            hovered = pg.evaluate("window.hov")
            pg.fill("#wm-q", "King")
            listed = pg.inner_text("#wm-nb")
            pg.wait_for_timeout(300)
            searched = pg.eval_on_selector_all(".annotation-scene", BOXES)
            pg.click("text=t-SNE")
            pg.wait_for_timeout(500)
            switched = pg.eval_on_selector_all(".annotation-scene", BOXES)
            pg.screenshot(path=str(tmp_path / "shot.png"))
            pg.fill("#wm-q", "queenx")
            missing = pg.inner_text("#wm-nb")
        finally:
            b.close()
    assert errors == []
    assert marks == ["wm-start", "wm-plotly", "wm-data", "wm-plot", "wm-ready"]  # ready after the first frame
    assert sorted(t for t, *_ in labels) == sorted(w for g in GROUPS.values() for w in g)
    assert hovered == word  # hover labels
    for n, (_, x0, y0, x1, y1) in enumerate(labels):  # each label inside the map, none on another
        assert plot[0] <= x0 and x1 <= plot[2] and plot[1] <= y0 and y1 <= plot[3]
        assert all(x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0 for _, a0, b0, a1, b1 in labels[n + 1:])
    d = _payload(page)
    ids = [d["words"].index("king")] + d["nb"][d["words"].index("king")]
    assert len(searched) == 8 + sum(d["h"] <= i < 60 for i in ids)  # the neighbours on the map get labels
    assert len(switched) == 8 + sum(d["h"] <= i < 40 for i in ids) > 8  # and follow the switch to t-SNE (40 words)
    assert "queen" in listed and "prince" in listed and "man\t0.8165" in listed
    assert "is not among the 60 words of this page" in missing
    img = np.asarray(Image.open(tmp_path / "shot.png").convert("RGB"))[120:, 350:]  # (h, w, 3) the map
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50 and (img < 200).any(axis=2).mean() > 0.01
