import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wordmore.cli import main
from wordmore.embeddings import Embeddings

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["<s>", "<unk>", "king", "queen", "man", "woman", "prince", "princess", "boy", "girl", "breakfast",
         "lunch", "dinner", "kings"]


@pytest.fixture
def vec(tmp_path):
    rng = np.random.default_rng(0)
    V = rng.normal(size=(len(WORDS), 6)).astype(np.float32) * 0.1
    g, r = np.eye(6)[0], np.eye(6)[1]
    for w, v in {"king": g + r, "queen": -g + r, "man": g, "woman": -g, "prince": g + r + 0.3 * np.eye(6)[2],
                 "princess": -g + r + 0.3 * np.eye(6)[2], "breakfast": np.eye(6)[3] * 2, "lunch": np.eye(6)[3] * 2 + 0.1,
                 "dinner": np.eye(6)[3] * 2 - 0.1}.items():
        V[WORDS.index(w)] += v
    p = tmp_path / "v.vec"
    Embeddings(WORDS, V).save_word2vec(p)
    return p


def test_help_both_ways():
    assert main(["--help"]) == 0
    r = subprocess.run([sys.executable, "-m", "wordmore", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "neighbors" in r.stdout


def test_queries_table_and_json(vec, capsys):
    assert main(["analogy", "king", "man", "woman", "--model", str(vec), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["word"] == "queen"
    assert main(["neighbors", "breakfast", "-k", "2", "--model", str(vec)]) == 0
    text = capsys.readouterr().out
    assert "lunch" in text and "dinner" in text
    assert main(["similarity", "king", "queen", "--model", str(vec), "--json"]) == 0
    u = {w: v / np.linalg.norm(v) for w, v in zip(Embeddings.load(vec).words, Embeddings.load(vec).vectors)}
    assert json.loads(capsys.readouterr().out)["cosine"] == pytest.approx(float(u["king"] @ u["queen"]), abs=1e-6)
    assert main(["odd-one-out", "breakfast", "lunch", "dinner", "king", "--model", str(vec)]) == 0
    assert "odd one out: king" in capsys.readouterr().out


def test_unknown_word_and_bad_k(vec, capsys):
    assert main(["neighbors", "kingg", "--model", str(vec)]) == 1
    err = capsys.readouterr().err
    assert "unknown word 'kingg'" in err and "king" in err and "Traceback" not in err
    assert main(["neighbors", "king", "-k", "500", "--model", str(vec)]) == 1
    assert "larger than the vocabulary" in capsys.readouterr().err
    assert main(["neighbors", "king", "-k", "0", "--model", str(vec)]) == 2
    capsys.readouterr()
    assert main(["neighbors", "queen", "--limit", "3", "--model", str(vec)]) == 1  # the word first, then -k
    assert "unknown word 'queen' (not among the first 3 words, read with --limit)" in capsys.readouterr().err
    assert main(["neighbors", "king", "--limit", "5", "-k", "3", "--model", str(vec)]) == 1
    assert "-k 3 is larger than the vocabulary: the model has 2 words besides" in capsys.readouterr().err
    for args in (["neighbors", "king", "-k", "0"], ["analogy", "king", "man"]):  # usage errors under --json too
        assert main([*args, "--model", str(vec), "--json"]) == 2
        err = capsys.readouterr().err
        assert json.loads(err)["error"].startswith(f"wordmore {args[0]}: ") and "usage" not in err
    assert main(["neighbors", "king", "--model", str(vec.parent / "none.vec")]) == 1
    assert "no such vectors file" in capsys.readouterr().err


def test_evaluate_command(vec, tmp_path, capsys, monkeypatch):
    q = tmp_path / "q.txt"
    q.write_text(": family\nman woman king queen\nman woman boy girl\n: gram1\nking kings man men\n")
    assert main(["evaluate", "--model", str(vec), "--analogies", str(q), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["analogies"]["total"]["seen"] == 2 and out["analogies"]["total"]["skipped"] == 1
    assert out["analogies"]["total"]["correct"] >= 1
    two = tmp_path / "two.tsv"
    two.write_text("king\tqueen\t8.5\nman\twoman\t1.0\nking\tcabbage\t0.5\n")
    assert main(["evaluate", "--model", str(vec), "--analogies", str(q), "--similarity", str(two)]) == 0
    text = capsys.readouterr().out
    assert "two.tsv  -         -        2/3" in text and "no correlation on 2 covered pairs: it needs 3" in text
    assert main(["evaluate", "--model", str(vec), "--analogies", str(q), "--similarity", str(two), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["similarity"]["spearman"] is None  # JSON null, not NaN
    monkeypatch.delenv("WORDMORE_DATA", raising=False)
    assert main(["evaluate", "--model", str(vec), "--analogies", str(q), "--similarity", str(tmp_path / "no.tsv")]) == 1
    assert "no such word-pair file" in capsys.readouterr().err  # checked before the analogies are scored


def test_explore_k_above_the_vocabulary_is_an_error_not_a_clamp(vec, tmp_path, capsys):
    out = tmp_path / "e.html"
    assert main(["explore", "--model", str(vec), "--out", str(out), "-k", "50"]) == 1
    err = capsys.readouterr().err
    assert "-k 50 is larger than the vocabulary: the model has 11 words besides the one asked about" in err
    assert not out.exists()


def test_a_file_in_a_folders_place_and_an_unwritable_place_are_named(vec, names_file, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("mine\n")
    assert main(["train", "--level", "char", "--dataset", str(names_file), "--out", str(f), "--max-steps", "2"]) == 1
    assert f"wordmore: error: {f} is a file, where a folder is needed" in capsys.readouterr().err
    assert main(["plot", "--model", str(vec), "--out", str(f / "x.png")]) == 1
    assert f"{f} is a file, where a folder is needed" in capsys.readouterr().err
    if Path("/proc/self").is_dir():  # no file can be made there: the message names the path asked for
        assert main(["export", "--model", str(vec), "--out", "/proc/x.vec"]) == 1
        err = capsys.readouterr().err
        assert "cannot write /proc/x.vec" in err and ".tmp" not in err
    assert f.read_text() == "mine\n"


def test_export_formats(vec, tmp_path, capsys):
    assert main(["export", "--model", str(vec), "--format", "word2vec-bin", "--out", str(tmp_path / "v.bin")]) == 0
    assert Embeddings.load(tmp_path / "v.bin").words == WORDS
    assert main(["export", "--model", str(vec), "--format", "projector", "--out", str(tmp_path / "proj")]) == 0
    assert len((tmp_path / "proj" / "metadata.tsv").read_text().splitlines()) == len(WORDS)


def test_plot_word_and_char(vec, tmp_path):
    out = tmp_path / "p.png"
    assert main(["plot", "--model", str(vec), "--out", str(out), "--arrows", "--background", "5"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "--model", str(vec), "--out", str(tmp_path / "t.png"), "--method", "tsne"]) == 0
    assert main(["plot", "--model", str(vec), "--out", str(out), "--words", "zzz"]) == 1


def test_char_run_sample_plot_and_report(names_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--level", "char", "--dataset", str(names_file), "--out", str(out), "--max-steps", "200",
                 "--n-embd", "2", "--n-hidden", "32", "--eval-every", "50", "--lr", "1e-2"]) == 0
    capsys.readouterr()
    assert main(["sample", "--model", str(out), "-n", "8"]) == 0
    head, *lines = capsys.readouterr().out.strip().splitlines()
    assert head == f"model: {out} (step 200), temperature 1, seed 0"  # which run answered
    assert len(lines) == 8 and all(l.endswith(("(in train)", "(new)")) for l in lines)
    for flags in (["-n", str(10**7)], ["--seed", str(10**20)]):  # bounded: no hang, no torch overflow
        assert main(["sample", "--model", str(out), *flags]) == 2 and "must be at most" in capsys.readouterr().err
    assert main(["plot", "--model", str(out)]) == 0
    assert (out / "plot-pca.png").exists()
    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "![training curve](curve.png)" in report and (out / "curve.png").exists()


def test_word_run_then_queries_default_to_the_newest_run_here_and_report(words_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "word-tales"
    assert main(["train", "--level", "word", "--dataset", str(words_file), "--out", str(out), "--max-steps", "150",
                 "--min-count", "1", "--n-embd", "8", "--n-hidden", "16", "--negatives", "8",
                 "--batch-size", "64", "--eval-every", "50", "--subsample", "0"]) == 0
    text = capsys.readouterr().out
    assert "Are king, queen, prince and princess near each other?" in text and "king - man + woman" in text
    gensim = pytest.importorskip("gensim")
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(out / "embeddings.vec"))
    assert "princess" in kv.key_to_index and kv.vectors.shape[1] == 16 + 16  # C read into the hidden space, beside the output table
    assert main(["neighbors", "king", "--json"]) == 0  # no --model: the newest word run under ./runs
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["results"]) == 10 and Path(answer["model"]).resolve() == out.resolve()
    assert main(["report", str(out), "--no-explorer"]) == 0
    rep = (out / "report.md").read_text()
    assert "| king |" in rep and "![PCA](plot-pca.png)" in rep


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = readme.split("<!-- setup -->")[1].split("<!-- /setup -->")[0]
    cmds = [l.strip() for l in block.splitlines() if l.strip() and not l.startswith("```")]
    assert len(cmds) == 2 and cmds[0].startswith("pip install torch==2.13.0")
    for c in cmds:
        assert c in ci


def test_tie_with_unequal_sizes_is_one_line(words_file, tmp_path, capsys):
    rc = main(["train", "--level", "word", "--dataset", str(words_file), "--out", str(tmp_path / "t"),
               "--tie", "--n-embd", "8", "--n-hidden", "16", "--max-steps", "5"])
    err = capsys.readouterr().err
    assert rc != 0 and "--tie needs --n-embd equal to --n-hidden (got 8 and 16)" in err and "Traceback" not in err


def test_tie_without_direct_trains_with_a_warning(words_file, tmp_path, capsys):
    common = ["train", "--level", "word", "--dataset", str(words_file), "--n-embd", "8", "--n-hidden", "8",
              "--max-steps", "5", "--no-direct", "--min-count", "1"]
    assert main([*common, "--out", str(tmp_path / "a"), "--tie"]) == 0
    assert "warning: --tie without --direct did not train" in capsys.readouterr().out
    assert main([*common, "--out", str(tmp_path / "b")]) == 0  # untied: no warning
    out = capsys.readouterr().out
    assert "warning: --tie" not in out and '"tie": false' in out
    assert "warning: --warmup 200 is longer than this run's 5-step plan" in out  # the preset's warmup, 5 steps
    assert main([*common, "--out", str(tmp_path / "c"), "--warmup", "2"]) == 0
    out = capsys.readouterr().out  # the tiny vocabulary is below the preset's 512 noise words: that one warning
    assert [l for l in out.splitlines() if "warning" in l] == [
        "warning: --negatives 512 is not below the vocabulary's 33 words: the noise words are drawn with replacement, "
        "so they repeat, and the step costs as much as a full softmax or more (give fewer, or --head softmax)"]
    assert main([*common, "--out", str(tmp_path / "d"), "--warmup", "2", "--negatives", "16"]) == 0
    assert "warning" not in capsys.readouterr().out
    words_file.unlink()  # sample on a word run: refused at once, before the training text is looked for
    assert main(["sample", "--model", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "sampling needs a left-window model" in err and "training set not available" not in err


def test_encode_prints_the_folder_that_train_then_reuses(words_file, tmp_path, capsys):
    assert main(["encode", str(words_file), "--min-count", "1", "--workers", "2"]) == 0
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (folder / "train.bin").is_file() and (folder / "meta.json").is_file()
    assert main(["train", "--level", "word", "--dataset", str(words_file), "--min-count", "1", "--max-steps", "3",
                 "--out", str(tmp_path / "r"), "--n-embd", "8", "--n-hidden", "8", "--no-royals"]) == 0
    assert f"reusing encoded corpus {folder}" in capsys.readouterr().out
    assert main(["encode", str(tmp_path / "missing.txt")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["train", "--level", "word", "--dataset", str(tmp_path / "missing.txt"), "--out",
                 str(tmp_path / "never")]) == 1
    assert "no such file" in capsys.readouterr().err and not (tmp_path / "never").exists()  # no empty run folder


def test_os_errors_are_one_line(names_file, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    rc = main(["train", "--level", "char", "--dataset", str(names_file), "--out", str(blocker / "run"),
               "--max-steps", "2"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("wordmore: error: Not a directory") and len(err.strip().splitlines()) == 1


def test_a_full_disk_while_training_is_one_line_and_leaves_no_temporary_file(names_file, tmp_path, capsys, monkeypatch):
    import errno
    import wordmore.atomic as A

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert main(["encode", str(names_file), "--level", "char"]) == 0  # the corpus first, while there is room
    capsys.readouterr()
    monkeypatch.setattr(A.os, "fsync", full)
    out = tmp_path / "r"
    rc = main(["train", "--level", "char", "--dataset", str(names_file), "--out", str(out), "--max-steps", "2"])
    err = capsys.readouterr().err
    assert rc == 1 and err.strip() == "wordmore: error: No space left on device"
    assert not out.exists()  # no temporary file, no lock: the folder the run made, left empty, is gone too


def test_a_reader_that_stops_early_is_no_error(vec, tmp_path):
    """`wordmore query ... | head -1`: the closed pipe ends the command quietly with status 0."""
    (tmp_path / "q.txt").write_text("king\n" * 20000)
    with open(tmp_path / "q.txt") as q:
        p = subprocess.Popen([sys.executable, "-m", "wordmore", "query", "-m", str(vec)], stdin=q,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip()  # the first answer, then the reader goes away
    p.stdout.close()
    assert p.wait(timeout=120) == 0
    assert "error" not in p.stderr.read()
