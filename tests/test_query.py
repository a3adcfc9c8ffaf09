import io
import json
import re

import numpy as np
import pytest

from wordmore.embeddings import Embeddings
from wordmore.errors import WordmoreError
from wordmore.query import (
    answer,
    build_query,
    error_json,
    model_line,
    parse_expression,
    parse_line,
    run_stream,
    to_text,
)

WORDS = ["<s>", "king", "queen", "man", "woman", "prince", "princess", "apple"]
V = np.array([[0, 0, 0, .1], [1, 1, 1, 0], [-1, 1, 1, 0], [1, 0, 1, 0], [-1, 0, 1, 0], [1, 1, -1, 0],
              [-1, 1, -1, 0], [0, 0, 0, 3]], dtype=np.float32)


@pytest.fixture
def emb():
    return Embeddings(WORDS, V, lowercase=True, source="runs/word-test")


@pytest.mark.parametrize("text,pos,neg", [
    ("king", ["king"], []), ("king - man + woman", ["king", "woman"], ["man"]),
    ("king -man +woman", ["king", "woman"], ["man"]), ("- man", [], ["man"]),
    ("well-known", ["well-known"], []), ("a + b - c - d", ["a", "b"], ["c", "d"])])
def test_parse_expression(text, pos, neg):
    assert parse_expression(text) == (pos, neg)


@pytest.mark.parametrize("text,msg", [("king -", "ends with an operator"), ("king - + man", "two operators"),
                                      ("  ", "empty query")])
def test_bad_expressions(text, msg):
    with pytest.raises(WordmoreError, match=msg):
        parse_expression(text)


def test_expression_lists_and_analogy_agree(emb):
    a = answer(emb, build_query(["king - man + woman"], k=3))
    b = answer(emb, build_query(positive=["king", "woman"], negative=["man"], k=3))
    c = answer(emb, parse_line("analogy king man woman", k=3))
    assert a["results"] == b["results"] == c["results"] and a["results"][0]["word"] == "queen"
    assert a["query"] == ["king", "man", "woman"] and b["query"] == ["king", "woman", "man"]
    assert c["query"] == ["king", "man", "woman"] and c["positive"] == ["king", "woman"]
    assert [r["word"] for r in a["results"]] == [w for w, _ in emb.analogy("king", "man", "woman", 3)]


def test_json_names_model_and_the_word_looked_up(emb):
    d = answer(emb, build_query(["KING"], k=2, restrict=6))
    assert d["model"] == "runs/word-test" and d["query"] == ["king"] and d["k"] == 2
    assert d["restrict_vocab"] == 6 and d["method"] == "add" and len(d["results"]) == 2
    assert set(d["results"][0]) == {"word", "score"}
    json.dumps(d)  # plain types only


def test_one_way_to_ask(emb):
    with pytest.raises(WordmoreError, match="give only one of: a word or expression"):
        build_query(["king"], positive=["queen"])  # two given
    with pytest.raises(WordmoreError, match="^give one of: a word or expression"):
        build_query()  # none given
    with pytest.raises(WordmoreError, match="'x' is not a number"):
        build_query(vector=["1", "x"])


def test_vector_query(emb):
    d = answer(emb, build_query(vector=["0,0,0,", "1"], k=1))
    assert d["command"] == "vector" and d["query"] == [0, 0, 0, 1] and d["results"][0]["word"] == "apple"
    assert "nearest the vector (4 numbers)" in to_text(d)


def test_k_larger_than_vocabulary(emb):
    with pytest.raises(WordmoreError, match="larger than the vocabulary"):
        answer(emb, build_query(["king"], k=50))


def test_text_answers(emb):
    assert model_line(emb) == "model: runs/word-test (8 words x 4)"
    assert "neighbour of king" in to_text(answer(emb, build_query(["king"], k=2)))
    assert "king - man + woman" in to_text(answer(emb, parse_line("analogy king man woman", k=3)))
    assert "king - man + woman" in to_text(answer(emb, build_query(["king - man + woman"], k=3)))
    assert "- man + king" in to_text(answer(emb, build_query(["-man king"], k=3)))
    assert to_text(answer(emb, parse_line("similarity king queen"))).startswith("cosine(king, queen) = 0.3333")
    assert "odd one out: apple" in to_text(answer(emb, parse_line("odd-one-out king queen man apple")))
    assert "3CosMul" in to_text(answer(emb, parse_line("king - man + woman", k=3, method="mul")))


def test_stream_one_load_many_answers(emb):
    lines = ["king\n", "# a comment\n", "\n", "analogy king man woman\n", "kingg\n", "similarity king queen\n"]
    out, err = io.StringIO(), io.StringIO()
    assert run_stream(emb, lines, out, err, as_json=True, k=2) == 1
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r.get("line") for r in rows] == [1, 4, 5, 6] and rows[0]["model"] == "runs/word-test"
    assert rows[1]["results"][0]["word"] == "queen" and "unknown word 'kingg'" in rows[2]["error"]
    assert rows[3]["cosine"] == pytest.approx(1 / 3) and err.getvalue() == ""
    out, err = io.StringIO(), io.StringIO()
    assert run_stream(emb, lines, out, err, k=2) == 1
    text = out.getvalue()
    assert text.startswith("model: runs/word-test") and text.count("model:") == 1 and "> analogy" in text
    assert err.getvalue().startswith("wordmore: error: line 5: unknown word 'kingg'")


def test_error_json():
    assert json.loads(error_json("no such file", model="x")) == {"error": "no such file", "model": "x"}


def test_a_space_token_shows_as_its_stand_in():
    e = Embeddings(["a", " ", "b", "c"], np.array([[1, 0], [0.9, 0.1], [0, 1], [0.5, 0.5]], np.float32))
    text = to_text(answer(e, build_query(["a"], k=2)))
    assert "\u2423" in text.splitlines()[2] and "neighbour of a" in text
    assert answer(e, build_query(["\u2423"], k=1))["query"] == [" "]  # JSON keeps the real token


@pytest.mark.parametrize("line,title", [
    ("analogy king king queen", "king - king + queen"), ("king - man + man", "king - man + man"),
    ("king + man - man", "king + man - man"), ("- king + queen - king", "- king + queen - king")])
def test_title_keeps_each_terms_sign_in_order(emb, line, title):
    d = answer(emb, parse_line(line, k=2))
    assert to_text(d).splitlines()[0].split("  ")[1] == title
    assert len(d["signs"]) == len(d["query"]) and json.loads(json.dumps(d))["signs"] == d["signs"]


@pytest.mark.parametrize("method", ["add", "mul"])
def test_a_zero_query_vector_is_refused(emb, method):
    for line in ("king - king", "king + man - man - king"):
        with pytest.raises(WordmoreError, match=re.escape(f"the query vector is zero ({line}): nothing to rank by")):
            answer(emb, parse_line(line, k=2, method=method))
    err = io.StringIO()
    assert run_stream(emb, ["neighbors king - king\n", "king\n"], io.StringIO(), err, k=2, method=method) == 1
    assert "line 1: the query vector is zero (king - king)" in err.getvalue()
