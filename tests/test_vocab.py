import json
import os
import re
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from wordmore.errors import WordmoreError
from wordmore.vocab import UNK, TokenizerConfig, Vocab, count_tokens, tokenize

W = TokenizerConfig("word")
C = TokenizerConfig("char")


def test_word_tokenizer_lowercases_and_keeps_inner_apostrophes():
    assert tokenize("The King's DOG didn't bark!", W) == ["the", "king's", "dog", "didn't", "bark"]


def test_word_tokenizer_curly_apostrophe_and_punct_option():
    assert tokenize("Don’t stop.", W) == ["don't", "stop"]
    assert tokenize("Don’t stop, now.", TokenizerConfig("word", punct=True)) == ["don't", "stop", ",", "now", "."]
    assert tokenize("Hello", TokenizerConfig("word", lowercase=False)) == ["Hello"]


def test_underscores_and_quotes_are_not_words():
    assert tokenize("_italic_ 'quoted'", W) == ["italic", "quoted"]


def test_char_tokenizer_is_characters():
    assert tokenize("Emma\n", C) == ["e", "m", "m", "a"]


def test_unknown_level_rejected():
    with pytest.raises(ValueError, match="unknown level 'byte'"):
        TokenizerConfig("byte")


def test_vocab_frequency_order_specials_and_counts():
    counter, n_units, n_tok = count_tokens(["a b b c c c", "c d"], W)
    v = Vocab.build(counter, W, n_units=n_units, min_count=2)
    assert v.itos == ["<s>", UNK, "c", "b"]
    assert v.counts == [2, 2, 4, 2]  # a and d (1 each) went to <unk>
    assert v.encode(["c", "zzz"]) == [2, v.unk_id]
    assert v.decode([3, 2]) == ["b", "c"]


def test_vocab_max_vocab_caps_entries():
    counter = Counter({w: 10 - i for i, w in enumerate("abcdefgh")})
    v = Vocab.build(counter, W, n_units=1, max_vocab=5)
    assert len(v) == 5 and v.itos[2:] == ["a", "b", "c"]
    assert v.counts[1] == sum(counter[w] for w in "defgh")


def test_char_vocab_is_makemore_order_without_unk():
    counter, n, _ = count_tokens(["emma", "ava"], C)
    v = Vocab.build(counter, C, n_units=n)
    assert v.itos == [".", "a", "e", "m", "v"]
    assert v.unk_id is None and v.boundary_id == 0


def test_vocab_roundtrip_dict():
    counter, n, _ = count_tokens(["x y z x"], W)
    v = Vocab.build(counter, W, n_units=n)
    v2 = Vocab.from_dict(v.to_dict())
    assert v2.itos == v.itos and v2.counts == v.counts and v2.tokenizer == v.tokenizer


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_tokenizer_never_crashes_and_tokens_have_no_space(text):
    for cfg in (W, C, TokenizerConfig("word", punct=True)):
        toks = tokenize(text, cfg)
        assert all(t for t in toks)
        if cfg.level == "word":
            assert all(not any(ch.isspace() for ch in t) for t in toks)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20))
def test_vocab_is_deterministic_and_encode_decode_roundtrips(texts):
    c1, n1, _ = count_tokens(texts, W)
    c2, n2, _ = count_tokens(list(reversed(texts)), W)
    v1, v2 = Vocab.build(c1, W, n_units=n1), Vocab.build(c2, W, n_units=n2)
    assert v1.itos == v2.itos and v1.counts == v2.counts
    for t in texts:
        toks = tokenize(t, W)
        assert v1.decode(v1.encode(toks)) == toks


def test_long_line_without_spaces_and_odd_scripts():
    assert tokenize("a" * 100000, W) == ["a" * 100000]
    assert tokenize("שלום עולם 👑 e\u0301", W) == ["שלום", "עולם", "é"]
    assert tokenize("a\x00b", C) == ["a", "b"]


def _units_of(ids, toks):
    got, cur = [], []
    for i in ids.tolist():
        if i < 0:
            got.append(cur)
            cur = []
        else:
            cur.append(toks[i])
    return got


TRICKY = ["Don't  go—there’s  'tis dogs' a''b _x_ CAFÉ e\u0301x ΣΑΣ Σ", "", "  \t", "UPPER\u00a0space\u2003x\x1cy",
          "x\ue000y", "a\x00b\r\nc", "İstanbul ǅemal ½ ²3 ٣٤ 中文字 -- \"q\" `b`", "x <\u0338 = y"]


@pytest.mark.parametrize("cfg", [TokenizerConfig("word"), TokenizerConfig("word", punct=True), TokenizerConfig("char"),
                                 TokenizerConfig("word", lowercase=False), TokenizerConfig("char", lowercase=False)])
def test_chunk_encoder_gives_tokenizes_tokens(cfg):
    from wordmore.vocab import encode_units
    for units in (TRICKY, TRICKY[:4] + TRICKY[6:], [""], ["a"]):
        toks, ids, n = encode_units(units, cfg)
        want = [t for t in (tokenize(u, cfg) for u in units) if t]
        assert _units_of(ids, toks) == want and n == len(want)


@pytest.mark.skipif(not os.environ.get("WORDMORE_DATA"), reason="WORDMORE_DATA is not set")
@pytest.mark.parametrize("name", ["fairy", "gutenberg", "wikipedia", "wikitext2", "names"])
def test_chunk_encoder_equals_tokenize_on_a_sample_of_the_shared_corpora(name):
    from pathlib import Path

    from wordmore.vocab import encode_units
    files = sorted(Path(os.environ["WORDMORE_DATA"], name).glob("*.txt"))
    text = "".join(f.read_text(encoding="utf-8", errors="replace")[:200_000] for f in files[::max(1, len(files) // 8)])
    units = [u for u in text.split("\n\n") if u]
    for cfg in (TokenizerConfig("word"), TokenizerConfig("char"), TokenizerConfig("word", punct=True)):
        toks, ids, n = encode_units(units, cfg)
        assert _units_of(ids, toks) == [t for t in (tokenize(u, cfg) for u in units) if t]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab'’ _-.\n\r\x00\ue000Σσé\u0301\u00a0中1²İ")), max_size=12),
                max_size=6), st.sampled_from(["word", "char", "punct"]))
def test_chunk_encoder_equals_tokenize_on_any_text(units, kind):
    from wordmore.vocab import encode_units
    cfg = TokenizerConfig("word", punct=True) if kind == "punct" else TokenizerConfig(kind)
    toks, ids, n = encode_units(units, cfg)
    assert _units_of(ids, toks) == [t for t in (tokenize(u, cfg) for u in units) if t]


GOOD = {"itos": ["<s>", UNK, "a"], "counts": [1, 0, 2], "tokenizer": {"level": "word"}}


@pytest.mark.parametrize("text,why", [
    ("alice\nbob\n", "not JSON"), ("{}", "missing key.*itos, counts, tokenizer"), ("[1, 2]", "got a list"),
    ('{"itos": ["a", 1]}', "missing key.*counts, tokenizer"),
    (json.dumps({**GOOD, "itos": ["<s>", 1, "a"]}), "itos is not a list of strings"),
    (json.dumps({**GOOD, "counts": [1, 0]}), "3 tokens in itos but 2 counts"),
    (json.dumps({**GOOD, "counts": [1, -1, 2]}), "counts is not a list of integers"),
    (json.dumps({**GOOD, "itos": ["<s>", "a", "a"]}), "twice"),
    (json.dumps({**GOOD, "tokenizer": {"level": "byte"}}), "level 'byte'"),
    (json.dumps({**GOOD, "tokenizer": {"levle": "word"}}), "tokenizer is not a mapping"),
    (json.dumps({**GOOD, "itos": ["x", UNK, "a"]}), "lacks the boundary token '<s>'"),
])
def test_a_malformed_vocab_file_is_one_clear_error(tmp_path, text, why):
    p = tmp_path / "v.json"
    p.write_text(text)
    with pytest.raises(WordmoreError, match=f"^{re.escape(str(p))}: not a vocabulary: .*{why}"):
        Vocab.load(p)


def test_a_saved_vocab_loads_back(tmp_path):
    v = Vocab.build(Counter("abbccc"), C, n_units=2)
    v.save(tmp_path / "v.json")
    w = Vocab.load(tmp_path / "v.json")
    assert (w.itos, w.counts, w.tokenizer) == (v.itos, v.counts, v.tokenizer)
    with pytest.raises(WordmoreError, match="cannot read"):
        Vocab.load(tmp_path / "missing.json", "--vocab missing.json")
