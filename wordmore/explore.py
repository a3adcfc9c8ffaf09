"""A self-contained HTML explorer: 3-D maps (PCA, t-SNE, UMAP), a neighbour search box, highlighted groups."""
from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .embeddings import SPECIALS, Embeddings
from .errors import WordmoreError
from .plot import COLORS, highlight_groups

METHODS = ("pca", "tsne", "umap")
NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def _plotly():
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise WordmoreError("the explorer page needs plotly: pip install plotly "
                            "(or pip install 'wordmore[explore]')") from None
    return go


def read_groups(path) -> dict[str, list[str]]:
    """Groups from a text file: one 'name: word word ...' a line; '#' starts a comment."""
    p = Path(path)
    if not p.exists():
        raise WordmoreError(f"no such groups file: {p}")
    groups: dict[str, list[str]] = {}
    for ln, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
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
    k = min(k, len(emb) - 1 - sum(s in emb.index for s in SPECIALS))
    ids = np.asarray(ids, dtype=np.int64)
    nb = np.zeros((len(ids), max(k, 0)), dtype=np.int64)  # (n, k)
    cos = np.zeros((len(ids), max(k, 0)), dtype=np.float32)  # (n, k)
    if k <= 0:
        return nb, cos
    special = [emb.index[s] for s in SPECIALS if s in emb.index]
    m = min(len(emb), k + 1 + len(special))
    for s in range(0, len(ids), chunk):
        q = ids[s:s + chunk]
        S = emb.unit[q] @ emb.unit.T  # (c, V)
        S[np.arange(len(q)), q] = -np.inf
        S[:, special] = -np.inf
        cand = np.argpartition(-S, m - 1, axis=1)[:, :m] if m < S.shape[1] else np.tile(np.arange(S.shape[1]), (len(q), 1))
        for r in range(len(q)):
            c = cand[r][np.lexsort((cand[r], -S[r, cand[r]]))][:k]  # by cosine, then by frequency rank
            nb[s + r], cos[s + r] = c, S[r, c]
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


def _traces(go, emb: Embeddings, maps: dict, hi: dict, shown: list[int], pairs) -> list:
    data = []
    hi_ids = {i for ids in hi.values() for i in ids}
    for m, (Y, _) in maps.items():
        Y = np.round(Y, 4)  # (n, 3): the first n words shown
        pos = {i: k for k, i in enumerate(shown[:len(Y)])}
        first = m == next(iter(maps))
        data.append(go.Scatter3d(x=Y[:, 0].tolist(), y=Y[:, 1].tolist(), z=Y[:, 2].tolist(), mode="markers",
                                 text=[emb.words[i] for i in shown[:len(Y)]], hovertemplate="%{text}<extra></extra>",
                                 name=f"words ({len(Y) - len(hi_ids):,} most frequent)",
                                 marker={"size": 2, "color": "#9a9a9a", "opacity": 0.5},
                                 meta={"proj": m, "role": "all"}, visible=first))
        for g, (name, ids) in enumerate(hi.items()):
            P = Y[[pos[i] for i in ids]]  # (ng, 3)
            data.append(go.Scatter3d(x=P[:, 0].tolist(), y=P[:, 1].tolist(), z=P[:, 2].tolist(),
                                     mode="markers+text", text=[emb.words[i] for i in ids], name=name,
                                     textposition="top center", hovertemplate="%{text}<extra>" + html.escape(name)
                                     + "</extra>", marker={"size": 6, "color": COLORS[g % len(COLORS)]},
                                     meta={"proj": m, "role": "group"}, visible=first))
        segs = [(pos[emb.index[emb.key(a)]], pos[emb.index[emb.key(b)]]) for a, b in pairs
                if emb.key(a) is not None and emb.key(b) is not None
                and emb.index[emb.key(a)] in pos and emb.index[emb.key(b)] in pos]
        if segs:
            xs, ys, zs = ([c for a, b in segs for c in (Y[a, d], Y[b, d], None)] for d in range(3))
            data.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line={"color": "#2ca02c", "width": 4},
                                     name="pairs: " + ", ".join(f"{emb.words[shown[a]]}→{emb.words[shown[b]]}"
                                                                for a, b in segs),
                                     hoverinfo="skip", meta={"proj": m, "role": "arrows"}, visible=first))
            A, B = Y[[a for a, _ in segs]], Y[[b for _, b in segs]]  # (p, 3) tails and heads
            D = B - A  # (p, 3)
            data.append(go.Cone(x=B[:, 0], y=B[:, 1], z=B[:, 2], u=D[:, 0], v=D[:, 1], w=D[:, 2], anchor="tip",
                                sizemode="absolute", sizeref=float(np.ptp(Y, axis=0).max()) * 0.04,
                                colorscale=[[0, "#2ca02c"], [1, "#2ca02c"]], showscale=False,
                                hoverinfo="skip", meta={"proj": m, "role": "heads"}, visible=first, showlegend=False))
        data.append(go.Scatter3d(x=[], y=[], z=[], mode="markers+text", name="search", text=[],
                                 textposition="top center", hovertemplate="%{text}<extra>search</extra>",
                                 marker={"size": 7, "color": "#ff7f0e", "symbol": "diamond"},
                                 meta={"proj": m, "role": "search"}, visible=first))
    return data


_JS = r"""
var D = JSON.parse(document.getElementById('wm-data').textContent);
var gd = document.getElementById('{plot_id}');
var where = new Map();
for (var i = 0; i < D.n; i++) where.set(D.words[i], i);
var q = document.getElementById('wm-q'), box = document.getElementById('wm-nb');
function esc(s) { return s.replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
function mark(ids) {
  gd.data.forEach(function (t, ti) {
    if (!t.meta || t.meta.role !== 'search') return;
    var all = gd.data.find(function (a) { return a.meta && a.meta.role === 'all' && a.meta.proj === t.meta.proj; });
    var on = ids.filter(function (i) { return i < all.x.length; });
    Plotly.restyle(gd, {x: [on.map(function (i) { return all.x[i]; })], y: [on.map(function (i) { return all.y[i]; })],
                        z: [on.map(function (i) { return all.z[i]; })], text: [on.map(function (i) { return D.words[i]; })]}, [ti]);
  });
}
function show(raw) {
  var w = D.lower ? raw.trim().toLowerCase() : raw.trim();
  if (!w) { box.innerHTML = ''; mark([]); return; }
  var i = where.get(w);
  if (i === undefined) {
    var near = D.words.slice(0, D.n).filter(function (x) { return x.startsWith(w); }).slice(0, 8);
    box.innerHTML = '<p class="miss">' + esc(w) + ' is not among the ' + D.n.toLocaleString('en') +
      ' words of this page (the model has ' + D.vocab.toLocaleString('en') + '; <code>wordmore neighbors ' + esc(w) +
      '</code> searches them all).</p>' + (near.length ? '<p>' + near.map(function (x) {
      return '<a href="#" data-w="' + esc(x) + '">' + esc(x) + '</a>'; }).join(' ') + '</p>' : '');
    mark([]); return;
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
window.__ready = true;
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
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
<header><h1>{title}</h1><div>{summary}</div></header>
<main><div id="wm-side"><label for="wm-q">Nearest neighbours of</label>
<input id="wm-q" type="search" placeholder="type a word, e.g. king" autocomplete="off">
<div id="wm-nb"></div><p style="color:#666;font-size:12px">{search_note}</p></div>
<div id="wm-map">{plot}</div></main>
<footer>{fits}</footer>
</body></html>
"""


def _layout(go, first_fit: str) -> dict:
    axis = {"showticklabels": False, "title": {"text": ""}, "showspikes": False}
    return {"height": 760, "margin": {"l": 0, "r": 0, "t": 40, "b": 0},
            "title": {"text": first_fit, "font": {"size": 13}, "x": 0.02},
            "scene": {"xaxis": axis, "yaxis": axis, "zaxis": axis, "aspectmode": "cube"},
            "legend": {"x": 0.01, "y": 0.95, "bgcolor": "rgba(255,255,255,0.7)"}}


def write_explorer(emb: Embeddings, out, words: Sequence[str] | None = None, groups=None, pairs=(),
                   top: int = 5000, k: int = 10, methods: Sequence[str] = METHODS, seed: int = 0,
                   fit_max: int = 1000, title: str = "") -> Path:
    """Write the explorer page for the top most frequent words plus the highlighted ones; returns its path."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise WordmoreError(f"the explorer page is HTML: give a path ending in .html, not {out.name!r}")
    go = _plotly()
    hi, shown = _pick(emb, words, groups, top)
    if len(shown) < 4:
        raise WordmoreError(f"too few words for a map ({len(shown)}): raise the number of frequent words shown")
    pr = _projections(emb, shown, methods, seed, max(fit_max, sum(map(len, hi.values()))))
    maps = pr["maps"]
    if not maps:
        raise WordmoreError("no projection could be computed: " + "; ".join(pr["notes"]))
    data = _traces(go, emb, maps, hi, shown, pairs)
    fig = go.Figure(data=data, layout=_layout(go, next(iter(maps.values()))[1]))
    fig.update_layout(updatemenus=[{"type": "buttons", "direction": "right", "x": 0.99, "xanchor": "right", "y": 1.0,
                                    "buttons": [{"label": NAMES[m], "method": "update", "args": [
                                        {"visible": [t.meta["proj"] == m for t in data]}, {"title.text": how}]}
                                        for m, (_, how) in maps.items()]}])
    nb, cos = neighbour_table(emb, shown, k)
    extra = [int(j) for j in dict.fromkeys(nb.ravel().tolist()) if j not in set(shown)]
    local = {i: n for n, i in enumerate(shown + extra)}
    payload = {"words": [emb.words[i] for i in shown + extra], "n": len(shown), "vocab": len(emb),
               "lower": bool(emb.lowercase), "nb": [[local[int(j)] for j in row] for row in nb],
               "cos": np.round(cos.astype(np.float64), 4).tolist()}
    n_words = len(emb) - sum(s in emb.index for s in SPECIALS)
    subset = "all" if len(shown) >= n_words else f"the {len(shown):,} most frequent and highlighted of the {n_words:,}"
    summary = (f"{subset} words of {html.escape(emb.source or 'the model')} are on the map "
               f"({emb.dim}-d vectors). Highlighted: {html.escape(', '.join(hi) or 'none')}. "
               "Drag to rotate, scroll to zoom, click a legend entry to hide it.")
    search_note = (f"The search box knows the {len(shown):,} words on the map; each one's {nb.shape[1]} neighbours are "
                   f"searched over all {n_words:,} words by cosine, as <code>wordmore neighbors</code> gives them "
                   "(grey: not on the map).")
    fits = "<br>".join(html.escape(how) for _, how in maps.values()) + \
        "".join(f"<br>{html.escape(n)}" for n in pr["notes"])
    plot = fig.to_html(full_html=False, include_plotlyjs=True, post_script=_JS, div_id="wm-plot",
                       config={"displaylogo": False, "responsive": True})
    page = _PAGE.format(title=html.escape(title or "wordmore explorer"), summary=summary, search_note=search_note,
                        plot=plot, fits=fits, data=json.dumps(payload, ensure_ascii=False).replace("</", "<\\/"))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out
