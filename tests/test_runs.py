import json
import os

import pytest

from wordmore.errors import WordmoreError
from wordmore.runs import default_model, model_path, run_dir


def _run(root, name, level, mtime):
    d = root / "runs" / name
    d.mkdir(parents=True)
    (d / "embeddings.vec").write_text("1 2\na 1 2\n")
    (d / "vocab.json").write_text(json.dumps({"itos": ["a"], "tokenizer": {"level": level}}))
    os.utime(d / "embeddings.vec", (mtime, mtime))
    return d


def test_newest_run_of_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run(tmp_path, "word-fairy", "word", 1000)
    _run(tmp_path, "word-wiki", "word", 2000)
    _run(tmp_path, "char-names", "char", 3000)
    assert default_model().name == "word-wiki"
    assert model_path("").name == "word-wiki" and default_model("char").name == "char-names"
    assert model_path("runs/word-fairy").name == "word-fairy"
    with pytest.raises(WordmoreError, match="no such vectors file or run directory: nope"):
        model_path("nope")


def test_no_run_says_how_to_train_or_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WordmoreError, match=r"no model: no run under .* holds embeddings.vec; train one here "
                                            r"with 'wordmore train --level word'.* or pass --model"):
        default_model()
    _run(tmp_path, "char-names", "char", 1000)
    with pytest.raises(WordmoreError, match=r"no word-level run under runs/ \(found runs/char-names, a char run: "
                                            r"pass -m runs/char-names"):
        default_model()


def test_run_dir_for_checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "runs" / "x"
    d.mkdir(parents=True)
    (d / "ckpt.pt").write_bytes(b"")
    with pytest.raises(WordmoreError, match="pass -m runs/x$"):
        run_dir("runs/x/ckpt.pt")
    assert run_dir("runs/x") == d.relative_to(tmp_path)
    with pytest.raises(WordmoreError, match="no such run directory: runs/char-names"):
        run_dir("runs/char-names")
    with pytest.raises(WordmoreError, match="holds ckpt.pt; train one here with 'wordmore train --level char'"):
        (tmp_path / "runs" / "x" / "ckpt.pt").unlink()
        run_dir("")
