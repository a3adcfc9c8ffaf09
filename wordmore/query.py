"""Queries without torch: 'king - man + woman', positive/negative lists, vectors, their JSON and text, a stdin loop."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import WordmoreError

if TYPE_CHECKING:  # numpy stays unimported until a query runs: the CLI reads STREAM_HELP to build --help
    from .embeddings import Embeddings

STREAM_HELP = """one query per line; blank lines and lines starting with # are skipped:
  king                        neighbours of king
  king - man + woman          most similar to king - man + woman (also: king -man +woman)
  neighbors WORDS             the same, for a word that is also a command name
  analogy king man woman      king - man + woman (fastText's order)
  similarity king queen       cosine of two words
  odd-one-out a b c ...       the word that does not belong
  vector 0.1 -0.2 ...         neighbours of a vector of numbers"""


@dataclass
class Query:
    """One question to the vectors."""

    command: str  # neighbors | analogy | similarity | odd-one-out | vector
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # in the order given (similarity, odd-one-out, analogy)
    signs: list[str] = field(default_factory=list)  # '+' or '-' for each of words (neighbors, analogy)
    vector: list[float] | None = None
    k: int = 10
    restrict: int | None = None
    method: str = "add"


def parse_terms(text: str) -> list[tuple[str, str]]:
    """'king - man + woman' (or 'king -man +woman') -> [('+', 'king'), ('-', 'man'), ('+', 'woman')]."""
    terms, sign = [], None
    for tok in text.split():
        if tok in ("+", "-"):
            if sign is not None:
                raise WordmoreError(f"two operators in a row in {text!r}")
            sign = tok
            continue
        if tok[0] in "+-" and len(tok) > 1 and sign is None:
            sign, tok = tok[0], tok[1:]
        terms.append((sign or "+", tok))
        sign = None
    if sign is not None:
        raise WordmoreError(f"{text!r} ends with an operator: expected a word after {sign!r}")
    if not terms:
        raise WordmoreError("empty query: give a word or an expression like 'king - man + woman'")
    return terms


def parse_expression(text: str) -> tuple[list[str], list[str]]:
    """'king - man + woman' -> (['king', 'woman'], ['man'])."""
    terms = parse_terms(text)
    return [w for s, w in terms if s == "+"], [w for s, w in terms if s == "-"]


def parse_vector(items) -> list[float]:
    """Numbers from strings (separated by spaces or commas)."""
    out = []
    for s in " ".join(items).replace(",", " ").split():
        try:
            out.append(float(s))
        except ValueError:
            raise WordmoreError(f"--vector: {s!r} is not a number") from None
    if not out:
        raise WordmoreError("--vector: no numbers given")
    return out


def build_query(expr=(), positive=(), negative=(), vector=None, k: int = 10,
                restrict: int | None = None, method: str = "add") -> Query:
    """The neighbors command's query from its arguments: words/expression, --positive/--negative, or --vector."""
    given = [bool(expr), bool(positive or negative), vector is not None]
    if sum(given) != 1:
        raise WordmoreError(("give only one of" if sum(given) else "give one of") + ": a word or expression "
                            "('king - man + woman'), --positive/--negative word lists, or --vector NUMBERS")
    if vector is not None:
        return Query("vector", vector=parse_vector(vector), k=k, restrict=restrict)
    terms = parse_terms(" ".join(expr)) if expr else [("+", w) for w in positive] + [("-", w) for w in negative]
    pos, neg = [w for s, w in terms if s == "+"], [w for s, w in terms if s == "-"]
    return Query("neighbors", pos, neg, [w for _, w in terms], [s for s, _ in terms], k=k, restrict=restrict,
                 method=method)


def analogy_query(a: str, b: str, c: str, k: int = 5, restrict: int | None = None, method: str = "add") -> Query:
    """a - b + c in fastText's order (king man woman -> queen)."""
    return Query("analogy", [a, c], [b], [a, b, c], ["+", "-", "+"], k=k, restrict=restrict, method=method)


def parse_line(line: str, k: int = 10, restrict: int | None = None, method: str = "add") -> Query | None:
    """One stdin line as a Query (None for blank and comment lines); see STREAM_HELP."""
    toks = line.split()
    if not toks or toks[0].startswith("#"):
        return None
    head, rest = toks[0], toks[1:]
    if head == "analogy":
        if len(rest) != 3:
            raise WordmoreError("analogy takes 3 words: A B C for A - B + C")
        return analogy_query(*rest, k=k, restrict=restrict, method=method)
    if head == "similarity":
        if len(rest) != 2:
            raise WordmoreError("similarity takes 2 words")
        return Query("similarity", words=rest)
    if head == "odd-one-out":
        return Query("odd-one-out", words=rest)
    if head == "vector":
        return build_query(vector=rest, k=k, restrict=restrict)
    if head == "neighbors":
        toks = rest
    return build_query(toks, k=k, restrict=restrict, method=method)


def answer(emb: Embeddings, q: Query) -> dict:
    """The JSON-ready answer: model, command, query (a list), k, restrict_vocab, results with gensim's scores."""
    head = {"model": emb.source, "command": q.command}
    if q.command == "similarity":
        a, b = (emb.words[i] for i in emb.require(*q.words))
        return {**head, "query": [a, b], "cosine": emb.similarity(a, b)}
    if q.command == "odd-one-out":
        words = [emb.words[i] for i in emb.require(*q.words)]
        odd, scores = emb.doesnt_match(words)
        return {**head, "query": words, "odd_one_out": odd,
                "results": [{"word": w, "cosine_to_mean": s} for w, s in scores]}
    if q.command == "vector":
        res = emb.by_vector(q.vector, emb.check_k(q.k), q.restrict)
        return {**head, "query": q.vector, "k": q.k, "restrict_vocab": q.restrict,
                "results": [{"word": w, "score": s} for w, s in res]}
    pos = [emb.words[i] for i in emb.require(*q.positive)]
    neg = [emb.words[i] for i in emb.require(*q.negative)]
    words = [emb.words[i] for i in emb.require(*q.words)]
    emb.check_k(q.k)  # after the words: an unknown word is the first thing to say
    from .embeddings import expression
    signs = q.signs or ["+"] * len(pos) + ["-"] * len(neg)
    res = emb.most_similar(pos, neg, q.k, q.restrict, q.method, label=expression(words, signs))
    return {**head, "query": words, "signs": signs, "positive": pos, "negative": neg, "method": q.method, "k": q.k,
            "restrict_vocab": q.restrict, "results": [{"word": w, "score": s} for w, s in res]}


def model_line(emb: Embeddings) -> str:
    """The first line of every text answer: which run or file answered."""
    return f"model: {emb.describe()}"


def to_text(d: dict) -> str:
    """A readable answer (without the model line)."""
    from .embeddings import fmt_table
    from .vecio import visible  # a whitespace token (char level) shows as its stand-in
    if d["command"] == "similarity":
        a, b = map(visible, d["query"])
        return f"cosine({a}, {b}) = {d['cosine']:.4f}"
    if d["command"] == "odd-one-out":
        rows = [(visible(r["word"]), r["cosine_to_mean"]) for r in d["results"]]
        return f"odd one out: {visible(d['odd_one_out'])}\n" + fmt_table(rows, ("word", "cosine to the mean"))
    if d["command"] == "vector":
        title = f"nearest the vector ({len(d['query'])} numbers)"
    elif d["command"] == "neighbors" and len(d["query"]) == 1 and d["positive"]:
        title = f"neighbour of {visible(d['query'][0])}"
    else:
        title = _title(d)
    score = "3CosMul" if d.get("method") == "mul" else "cosine"
    return fmt_table([(i + 1, visible(r["word"]), r["score"]) for i, r in enumerate(d["results"])], ("#", title, score))


def _title(d: dict) -> str:
    """The query as typed: king - man + woman."""
    from .embeddings import expression
    from .vecio import visible
    signs = d.get("signs") or ["+"] * len(d["positive"]) + ["-"] * len(d["negative"])
    return expression([visible(w) for w in d["query"]], signs)


def error_json(message: str, **extra) -> str:
    """An error as one JSON line, for stderr under --json."""
    return json.dumps({"error": message, **extra}, ensure_ascii=False)


def run_stream(emb: Embeddings, lines, out=None, err=None, as_json: bool = False, k: int = 10,
               restrict: int | None = None, method: str = "add") -> int:
    """Answer one query per line with one load; returns how many lines failed (each failure reported, then on)."""
    out, err = out or sys.stdout, err or sys.stderr
    failed = 0
    if not as_json:
        print(model_line(emb), file=out, flush=True)
    for n, line in enumerate(lines, 1):
        try:
            q = parse_line(line, k, restrict, method)
            if q is None:
                continue
            d = answer(emb, q)
        except WordmoreError as e:
            failed += 1
            if as_json:  # one output line per query line, so answers and inputs pair up
                print(error_json(str(e), line=n, input=line.rstrip("\n")), file=out, flush=True)
            else:
                print(f"wordmore: error: line {n}: {e}", file=err, flush=True)
            continue
        if as_json:
            print(json.dumps({"line": n, **d}, ensure_ascii=False), file=out, flush=True)
        else:
            print(f"\n> {line.strip()}\n{to_text(d)}", file=out, flush=True)
    return failed
