import numpy as np
import pytest

from wordmore.errors import WordmoreError
from wordmore.vecio import read_vectors, write_word2vec


def test_binary_header_larger_than_the_file_is_refused_before_allocating(tmp_path, monkeypatch):
    p = tmp_path / "huge.bin"
    p.write_bytes(b"999999999999 100\nabc")
    monkeypatch.setattr(np, "empty", lambda *a, **k: pytest.fail("allocated before checking the header"))
    with pytest.raises(WordmoreError, match=r"huge\.bin:1: header says 999,999,999,999 vectors of 100 floats"):
        read_vectors(p)


def test_binary_header_one_row_too_many(tmp_path):
    p = tmp_path / "v.bin"
    write_word2vec(p, ["a", "b"], np.eye(2, dtype=np.float32), binary=True)
    p.write_bytes(p.read_bytes().replace(b"2 2\n", b"3 2\n", 1))
    with pytest.raises(WordmoreError, match="header says 3 vectors.*only 22 bytes follow it"):
        read_vectors(p)
    assert read_vectors(p, limit=2)[0] == ["a", "b"]  # the rows that are there stay readable with a limit


def test_binary_with_empty_word_and_no_newlines_still_reads(tmp_path):
    p = tmp_path / "v.bin"
    p.write_bytes(b"2 1\n " + np.float32(1).tobytes() + b"b " + np.float32(2).tobytes())
    words, vecs = read_vectors(p)
    assert words == ["", "b"] and vecs[:, 0].tolist() == [1.0, 2.0]


def test_text_header_larger_than_the_file(tmp_path):
    p = tmp_path / "v.vec"
    p.write_text("999999999 3\nking 1 2 3\n")
    with pytest.raises(WordmoreError, match="header says 999999999 words, file has 1"):
        read_vectors(p)


@pytest.mark.parametrize("name", ["empty.vec", "empty.bin", "empty.txt"])
def test_empty_file_says_so(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"")
    with pytest.raises(WordmoreError, match=f"{name}: the file is empty") as e:
        read_vectors(p)
    assert "bad header" not in str(e.value)
