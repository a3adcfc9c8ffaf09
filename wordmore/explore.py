"""A self-contained HTML explorer: 3-D maps (PCA, t-SNE, UMAP), a neighbour search box, highlighted groups."""
from __future__ import annotations

import html
import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .embeddings import SPECIALS, Embeddings
from .errors import WordmoreError
from .plot import COLORS, highlight_groups

METHODS = ("pca", "tsne", "umap")
NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
# plotly.js's 3-D bundle (npm plotly.js-gl3d-dist-min, MIT, licence beside it): a third of plotly.py's full one
PLOTLY_JS = Path(__file__).with_name("static") / "plotly-gl3d.min.js"


def _plotly():
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise WordmoreError("the explorer needs plotly: pip install plotly (or pip install 'wordmore[explore]')") from None
    return go


def read_groups(path) -> dict[str, list[str]]:
    """Groups from a text file: one 'name: word word ...' a line; '#' starts a comment."""
    p = Path(path)
    if not p.is_file():
        raise WordmoreError(f"no such groups file: {p}")
    groups: dict[str, list[str]] = {}
    for ln, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):  # binary: no line fits
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, rest = line.partition(":")
        if not sep or not name.strip() or not rest.split():
            raise WordmoreError(f"{p}:{ln}: expected 'group name: word word ...', got {line[:60]!r}")
        groups.setdefault(name.strip(), []).extend(rest.split())
    if not groups:
        raise WordmoreError(f"{p}: no groups in it")
    return groups


def neighbour_table(emb: Embeddings, ids: Sequence[int], k: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Each id's k nearest words over the whole model, as Embeddings.neighbors ranks them (self, specials out)."""
    k = min(k, emb.n_words - 1)
    ids = np.asarray(ids, dtype=np.int64)
    nb = np.zeros((len(ids), max(k, 0)), dtype=np.int64)  # (n, k)
    cos = np.zeros((len(ids), max(k, 0)), dtype=np.float32)  # (n, k)
    if k <= 0:
        return nb, cos
    special = [emb.index[s] for s in SPECIALS if s in emb.index]
    V, L = len(emb), min(len(emb), max(k, 1024))  # L groups of columns, V // L each: j, j + L, j + 2L ...
    for s in range(0, len(ids), chunk):
        q = ids[s:s + chunk]
        S = emb.unit[q] @ emb.unit.T  # (c, V)
        S[np.arange(len(q)), q] = S[:, special] = -np.inf
        B = S[:, :V // L * L].reshape(len(q), -1, L).max(1)  # (c, L): each group's largest cosine
        t = np.partition(B, L - k, axis=1)[:, L - k, None]  # (c, 1): k groups reach it, so each row's top k do
        f = np.flatnonzero(S >= t)  # the few candidates, row by row: no partition of the whole rows
        r, v = f // V, S.ravel()[f]
        top = np.lexsort((f, -v, r))[np.searchsorted(r, np.arange(len(q)))[:, None] + np.arange(k)]  # (c, k)
        nb[s:s + len(q)], cos[s:s + len(q)] = f[top] % V, v[top]  # by cosine, then by frequency rank
    return nb, cos


def _first(n: int, total: int) -> str:
    return f"all {n:,} words on the map" if n == total else \
        f"the highlighted and most frequent {n:,} of the {total:,} words on the map"


def _projections(emb: Embeddings, ids: list[int], methods: Sequence[str], seed: int, fit_max: int) -> dict:
    """name -> ((n, 3) coordinates of the first n ids, what it was fitted on); t-SNE and UMAP take the first fit_max."""
    X = emb.unit[ids]  # (n, D)
    Xs = X[:fit_max]  # (min(n, fit_max), D)
    out, notes = {}, []
    for m in methods:
        if m == "pca":
            from sklearn.decomposition import PCA
            keep = [i for i, w in enumerate(emb.words) if w not in SPECIALS]
            d = min(3, emb.dim, len(keep))
            Y = PCA(d, random_state=seed).fit(emb.unit[keep]).transform(X)
            out[m] = (Y, f"PCA: axes fitted on all {len(keep):,} words of the model; the {len(ids):,} shown are "
                         "projected onto them")
        elif m == "tsne":
            from sklearn.manifold import TSNE
            perp = max(2.0, min(30.0, (len(Xs) - 1) / 3))
            Y = TSNE(3, perplexity=perp, init="pca", metric="cosine", random_state=seed).fit_transform(Xs)
            out[m] = (Y, f"t-SNE (cosine, perplexity {perp:g}): fitted on and showing {_first(len(Xs), len(X))}")
        elif m == "umap":
            try:
                import umap
            except ImportError:
                notes.append("UMAP: not installed here (pip install umap-learn)")
                continue
            Y = umap.UMAP(n_components=3, metric="cosine", random_state=seed).fit_transform(Xs)
            out[m] = (Y, f"UMAP (cosine): fitted on and showing {_first(len(Xs), len(X))}")
        else:
            raise WordmoreError(f"unknown projection {m!r}: choose from {', '.join(METHODS)}")
    for m, (Y, how) in out.items():
        if Y.shape[1] < 3:
            out[m] = (np.pad(Y, ((0, 0), (0, 3 - Y.shape[1]))), how)
    return {"maps": out, "notes": notes}


def _pick(emb: Embeddings, words, groups, top: int) -> tuple[dict[str, list[int]], list[int]]:
    named: dict[str, list[str]] = {}
    if groups:
        named.update({k: list(v) for k, v in (groups.items() if isinstance(groups, Mapping) else groups)})
    if words:
        named["your words"] = list(words)
    hi = highlight_groups(emb, named)
    seen = {i for ids in hi.values() for i in ids}
    frequent = [i for i, w in enumerate(emb.words) if w not in SPECIALS][:top]
    shown = [i for ids in hi.values() for i in ids] + [i for i in frequent if i not in seen]
    return hi, shown


def _frame(Y: np.ndarray, rows: list[int], aspect: float = 1.2) -> dict:
    """Axis ranges over all points, and a camera aimed at the given rows from the side that spreads them most."""
    pad = np.maximum(np.ptp(Y, 0) * 0.04, 1e-6)  # (3,)
    lo, hi = Y.min(0) - pad, Y.max(0) + pad  # (3,) each
    view = {"ranges": [[float(a), float(b)] for a, b in zip(lo, hi)],
            "camera": {"up": {"x": 0, "y": 0, "z": 1}, "center": {"x": 0, "y": 0, "z": 0},
                       "eye": {"x": 1.25, "y": 1.25, "z": 1.25}}}
    if len(rows) < 2:
        return view
    H = (Y[rows] - (lo + hi) / 2) / (hi - lo)  # (h, 3) in the scene's unit cube, [-0.5, 0.5] on each axis
    c = (H.min(0) + H.max(0)) / 2  # (3,)
    P = H - c  # (h, 3)
    el, az = np.meshgrid(np.radians([35, 20, 50, 0, -20]), np.radians(np.arange(45, 405, 15)))  # (a, e) each
    V = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1).reshape(-1, 3)  # (m, 3)
    right = np.cross(-V, [0, 0, 1]) / np.cos(el).reshape(-1, 1)  # (m, 3): the screen's x axis, eye along each V
    up = np.cross(right, -V)  # (m, 3)
    SX, SY = P @ right.T, P @ up.T  # (h, m) screen positions of the rows
    gap = np.hypot((SX[:, None] - SX[None]) / 2.5, SY[:, None] - SY[None])  # (h, h, m): labels are wide
    gap[np.arange(len(P)), np.arange(len(P))] = np.inf
    score = gap.min((0, 1)) / np.maximum(np.maximum(np.ptp(SX, 0) / aspect, np.ptp(SY, 0)), 1e-9)  # (m,)
    b = int(np.argmax(score))
    t = np.tan(np.pi / 8)  # plotly's 3-D camera sees 45 degrees vertically
    d = max(np.abs(SX[:, b]).max() / (t * aspect), np.abs(SY[:, b]).max() / t) * 1.35 + max((P @ V[b]).max(), 0)
    eye = c + float(np.clip(d, 0.02, 2.2)) * V[b]
    view["camera"].update(center=dict(zip("xyz", c.round(4).tolist())), eye=dict(zip("xyz", eye.round(4).tolist())))
    return view


def _heads(A: np.ndarray, B: np.ndarray, span: np.ndarray) -> list:
    """Arrowheads at B as four short barbs (seen from any side), drawn in the scene's cube so they keep their shape."""
    out, lengths = [], np.linalg.norm((B - A) / span, axis=1)  # (p,)
    for a, b, n in zip(A / span, B / span, lengths):  # (3,) each
        u, h = (b - a) / max(n, 1e-12), 0.2 * min(n, np.median(lengths))  # a long arrow gets no bigger a head
        p1 = np.cross(u, np.eye(3)[np.argmin(np.abs(u))])
        p1, p2 = p1 / max(np.linalg.norm(p1), 1e-12), np.cross(u, p1 / max(np.linalg.norm(p1), 1e-12))
        out += [q for s in (p1, -p1, p2, -p2) for q in (b * span, (b - h * u + 0.4 * h * s) * span, None)]
    return out


def _proj_traces(go, emb: Embeddings, m: str, Y: np.ndarray, hi: dict, shown: list[int], pairs, first: bool):
    """One projection's traces (words, groups, pairs, search) and its view (ranges, camera, group labels)."""
    pos = {i: k for k, i in enumerate(shown[:len(Y)])}
    meta = {"proj": m, "role": "all", "n": len(Y)}
    view = _frame(Y, [pos[i] for ids in hi.values() for i in ids])
    data = [go.Scatter3d(x=Y[:, 0], y=Y[:, 1], z=Y[:, 2], mode="markers", hovertemplate="%{text}<extra></extra>",
                         name=f"words ({len(Y) - sum(map(len, hi.values())):,} most frequent)", meta=meta,
                         marker={"size": 2, "color": "#b0b0b0", "symbol": "square"}, visible=first)]
    ann = []
    for g, (name, ids) in enumerate(hi.items()):
        P, color = Y[[pos[i] for i in ids]].astype(np.float64), COLORS[g % len(COLORS)]  # (ng, 3)
        data.append(go.Scatter3d(x=P[:, 0], y=P[:, 1], z=P[:, 2], mode="markers", text=[emb.words[i] for i in ids],
                                 name=name, hovertemplate="%{text}<extra>" + html.escape(name) + "</extra>",
                                 marker={"size": 6, "color": color}, meta={"proj": m, "role": "group"}, visible=first))
        ann += [{"x": float(p[0]), "y": float(p[1]), "z": float(p[2]), "text": html.escape(emb.words[i]),
                 "showarrow": False, "yshift": 11, "font": {"color": color, "size": 13},
                 "bgcolor": "rgba(255,255,255,0.6)"} for i, p in zip(ids, P)]
    segs = [(pos[emb.index[emb.key(a)]], pos[emb.index[emb.key(b)]]) for a, b in pairs
            if emb.key(a) is not None and emb.key(b) is not None
            and emb.index[emb.key(a)] in pos and emb.index[emb.key(b)] in pos]
    if segs:
        A, B = Y[[a for a, _ in segs]].astype(np.float64), Y[[b for _, b in segs]].astype(np.float64)  # (p, 3) each
        lines = [p for a, b in zip(A, B) for p in (a, b, None)] + _heads(A, B, np.ptp(view["ranges"], axis=1))
        xs, ys, zs = ([None if p is None else float(p[d]) for p in lines] for d in range(3))
        data.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines",
                                 line={"color": "#2ca02c", "width": 4}, hoverinfo="skip", visible=first,
                                 name="pairs: " + ", ".join(f"{emb.words[shown[a]]}→{emb.words[shown[b]]}"
                                                            for a, b in segs), meta={"proj": m, "role": "arrows"}))
    data.append(go.Scatter3d(x=[], y=[], z=[], mode="markers", name="search", text=[],
                             hovertemplate="%{text}<extra>search</extra>", meta={"proj": m, "role": "search"},
                             marker={"size": 5, "color": "#ff7f0e", "symbol": "diamond"}, visible=first))
    return data, {**view, "annotations": ann}


_JS = r"""
performance.mark('wm-plotly');
var D = JSON.parse(document.getElementById('wm-data').textContent);
var F = JSON.parse(document.getElementById('wm-fig').textContent);
var gd = document.getElementById('wm-plot'), where = new Map(), marked = [], shown = D.first;
for (var i = 0; i < D.n; i++) where.set(D.words[i], i);
function f32(v) {  // plotly.py's base64 float32 arrays, decoded once: the search reads the coordinates
  if (!v || !v.bdata) return v;
  var s = atob(v.bdata), u = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
  return new Float32Array(u.buffer); }
F.data.forEach(function (t) {
  if (t.meta.role === 'all') { t.x = f32(t.x); t.y = f32(t.y); t.z = f32(t.z); t.text = D.words.slice(0, t.meta.n); } });
F.config.plotGlPixelRatio = Math.min(2, Math.max(1, window.devicePixelRatio || 1));
performance.mark('wm-data');
var q = document.getElementById('wm-q'), box = document.getElementById('wm-nb');
function esc(s) { return s.replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
function cur() { return gd.data.find(function (t) { return t.meta.role === 'all' && t.visible !== false; }).meta.proj; }
function mark(ids) {
  var p = cur(), idx = [], xs = [], ys = [], zs = [], ts = [], ann = D.ann[p].slice();
  marked = ids; shown = p;
  gd.data.forEach(function (t, ti) {
    if (t.meta.role !== 'search') return;
    var all = gd.data.find(function (a) { return a.meta.role === 'all' && a.meta.proj === t.meta.proj; });
    var on = ids.filter(function (i) { return i < all.meta.n; });
    idx.push(ti); ts.push(on.map(function (i) { return D.words[i]; }));
    xs.push(on.map(function (i) { return all.x[i]; })); ys.push(on.map(function (i) { return all.y[i]; }));
    zs.push(on.map(function (i) { return all.z[i]; }));
    if (t.meta.proj === p) on.forEach(function (i, r) { if (i < D.h) return;  // a highlighted word has its label
      ann.push({x: all.x[i], y: all.y[i], z: all.z[i], text: esc(D.words[i]), showarrow: false, yshift: 11,
                font: {size: r ? 12 : 14, color: r ? '#a0522d' : '#000'}, bgcolor: 'rgba(255,255,255,0.75)'}); });
  });
  Plotly.update(gd, {x: xs, y: ys, z: zs, text: ts}, {'scene.annotations': ann}, idx);
}
function show(raw) {
  var w = D.lower ? raw.trim().toLowerCase() : raw.trim();
  if (!w) { box.innerHTML = ''; if (marked.length) mark([]); return; }
  var i = where.get(w);
  if (i === undefined) {
    var near = D.words.slice(0, D.n).filter(function (x) { return x.startsWith(w); }).slice(0, 8);
    box.innerHTML = '<p class="miss">' + esc(w) + ' is not among the ' + D.n.toLocaleString('en') +
      ' words of this page (the model has ' + D.vocab.toLocaleString('en') + '; <code>wordmore neighbors ' + esc(w) +
      '</code> searches them all).</p>' + (near.length ? '<p>' + near.map(function (x) {
      return '<a href="#" data-w="' + esc(x) + '">' + esc(x) + '</a>'; }).join(' ') + '</p>' : '');
    if (marked.length) mark([]); return;
  }
  var rows = D.nb[i].map(function (j, r) {
    return '<tr class="' + (j < D.n ? '' : 'off') + '"><td>' + (r + 1) + '</td><td><a href="#" data-w="' + esc(D.words[j]) +
      '">' + esc(D.words[j]) + '</a></td><td>' + D.cos[i][r].toFixed(4) + '</td></tr>'; }).join('');
  box.innerHTML = '<table><tr><th>#</th><th>neighbour of ' + esc(w) + '</th><th>cosine</th></tr>' + rows + '</table>';
  mark([i].concat(D.nb[i]));
}
q.addEventListener('input', function () { show(q.value); });
box.addEventListener('click', function (e) {
  var w = e.target.getAttribute('data-w');
  if (w !== null && where.has(w)) { e.preventDefault(); q.value = w; show(w); }
});
Plotly.newPlot(gd, F.data, F.layout, F.config).then(function () {
  performance.mark('wm-plot');
  gd.on('plotly_update', function () { if (cur() !== shown) { shown = cur(); if (marked.length) mark(marked); } });
  requestAnimationFrame(function () { requestAnimationFrame(function () {  // the frame with the map is on screen
    performance.mark('wm-ready'); window.__ready = true; }); });
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>performance.mark('wm-start')</script>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 0; color: #222; }}
header {{ padding: 8px 16px; border-bottom: 1px solid #ddd; }} h1 {{ font-size: 18px; margin: 4px 0; }}
main {{ display: flex; }} #wm-side {{ width: 300px; padding: 10px 16px; flex: none; }}
#wm-map {{ flex: 1; min-width: 0; }} #wm-q {{ width: 100%; font-size: 16px; padding: 4px; box-sizing: border-box; }}
table {{ border-collapse: collapse; margin-top: 8px; }} td, th {{ padding: 1px 8px; text-align: left; }}
td:last-child {{ font-variant-numeric: tabular-nums; }} tr.off a {{ color: #888; }} .miss {{ color: #a33; }}
footer {{ padding: 6px 16px; color: #444; font-size: 13px; border-top: 1px solid #ddd; }}
</style></head><body>
<script type="application/json" id="wm-data">{data}</script>
<script type="application/json" id="wm-fig">{fig}</script>
<header><h1>{title}</h1><div>{summary}</div></header>
<main><div id="wm-side"><label for="wm-q">Nearest neighbours of</label>
<input id="wm-q" type="search" placeholder="type a word, e.g. king" autocomplete="off">
<div id="wm-nb"></div><p style="color:#666;font-size:12px">{search_note}</p></div>
<div id="wm-map"><div id="wm-plot" style="height:760px;width:100%"></div></div></main>
<footer>{fits}</footer>
<script>{plotlyjs}</script>
<script>{js}</script>
</body></html>
"""


def _figure(go, emb: Embeddings, maps: dict, hi: dict, shown: list[int], pairs) -> tuple[dict, dict]:
    """The plotly figure as JSON-ready dict (all projections, buttons to switch) and each projection's labels."""
    data, views = [], {}
    for n, (m, (Y, _)) in enumerate(maps.items()):
        traces, views[m] = _proj_traces(go, emb, m, np.asarray(Y, dtype=np.float32), hi, shown, pairs, n == 0)
        data += traces

    def look(m, how):  # the title wrapped, clear of plotly's mode bar
        v, title = views[m], "<br>".join(textwrap.wrap(how, 80))
        return {"title.text": title, "scene.camera": v["camera"], "scene.annotations": v["annotations"],
                **{f"scene.{a}axis.range": r for a, r in zip("xyz", v["ranges"])}}
    axis = {"showticklabels": False, "tickvals": [], "title": {"text": ""}, "showspikes": False,
            "showbackground": False, "showline": False, "zeroline": False, "showgrid": False}  # PCA axes mean nothing
    m0, (_, how0) = next(iter(maps.items()))
    layout = {"height": 760, "margin": {"l": 0, "r": 0, "t": 56, "b": 0},
              "title": {"text": how0, "font": {"size": 13}, "x": 0.02},
              "scene": {"xaxis": axis, "yaxis": axis, "zaxis": axis, "aspectmode": "cube", "bgcolor": "#f5f7fb"},
              "legend": {"x": 0.01, "y": 0.95, "bgcolor": "rgba(255,255,255,0.7)"},
              "updatemenus": [{"type": "buttons", "direction": "right", "x": 0.99, "xanchor": "right", "y": 1.0,
                               "buttons": [{"label": NAMES[m], "method": "update", "args": [
                                   {"visible": [t.meta["proj"] == m for t in data]}, look(m, how)]}
                                   for m, (_, how) in maps.items()]}]}
    fig = go.Figure(data=data, layout=layout)
    fig.update_layout(look(m0, how0))
    return json.loads(fig.to_json()), {m: v["annotations"] for m, v in views.items()}


def write_explorer(emb: Embeddings, out, words: Sequence[str] | None = None, groups=None, pairs=(),
                   top: int = 5000, k: int = 10, methods: Sequence[str] = METHODS, seed: int = 0,
                   fit_max: int = 1000, title: str = "") -> Path:
    """Write the explorer page for the top most frequent words plus the highlighted ones; returns its path."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise WordmoreError(f"the explorer page is HTML: give a path ending in .html, not {out.name!r}")
    go = _plotly()
    hi, shown = _pick(emb, words, groups, top)
    nh = sum(map(len, hi.values()))
    if len(shown) < 4:
        raise WordmoreError(f"too few words for a map ({len(shown)}): raise the number of frequent words shown")
    pr = _projections(emb, shown, methods, seed, max(fit_max, nh))
    maps = pr["maps"]
    if not maps:
        raise WordmoreError("no projection could be computed: " + "; ".join(pr["notes"]))
    fig, ann = _figure(go, emb, maps, hi, shown, pairs)
    nb, cos = neighbour_table(emb, shown, k)
    on_map = set(shown)
    extra = [int(j) for j in dict.fromkeys(nb.ravel().tolist()) if j not in on_map]
    local = {i: n for n, i in enumerate(shown + extra)}
    payload = {"words": [emb.words[i] for i in shown + extra], "n": len(shown), "vocab": len(emb),
               "lower": bool(emb.lowercase), "nb": [[local[int(j)] for j in row] for row in nb],
               "cos": np.round(cos.astype(np.float64), 4).tolist(), "ann": ann, "first": next(iter(maps)), "h": nh}
    n_words = emb.n_words
    subset = "all" if len(shown) >= n_words else f"the {len(shown):,} most frequent and highlighted of the {n_words:,}"
    summary = (f"{subset} words of {html.escape(emb.source or 'the model')} are on the map "
               f"({emb.dim}-d vectors). Highlighted: {html.escape(', '.join(hi) or 'none')}. "
               + ("The view opens on the highlighted words; scroll out to see the rest. " if nh > 1 else "")
               + "Drag to rotate, scroll to zoom, click a legend entry to hide it.")
    search_note = (f"The search box knows the {len(shown):,} words on the map; each one's {nb.shape[1]} neighbours are "
                   f"searched over all {n_words:,} words by cosine, as <code>wordmore neighbors</code> gives them "
                   "(grey: not on the map).")
    fits = "<br>".join(html.escape(how) for _, how in maps.values()) + \
        "".join(f"<br>{html.escape(n)}" for n in pr["notes"])
    fig["config"] = {"displaylogo": False, "responsive": True}
    page = _PAGE.format(title=html.escape(title or "wordmore explorer"), summary=summary, search_note=search_note, fits=fits,
                        data=_json(payload), fig=_json(fig), plotlyjs=PLOTLY_JS.read_text("utf-8"), js=_JS)
    atomic_write_text(out, page)  # makes the folder too
    return out


def _json(obj) -> str:
    """JSON that is safe inside a script element."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
