import json

import numpy as np
import pytest

from wordmore.embeddings import Embeddings
from wordmore.report import fmt_num, undertrained, write_report

ROYAL = {"king": [1, 1, 1], "queen": [-1, 1, 1], "man": [1, 0, 1], "woman": [-1, 0, 1],
         "prince": [1, 1, -1], "princess": [-1, 1, -1], "boy": [1, 0, -1], "girl": [-1, 0, -1]}


@pytest.fixture
def run(tmp_path):
    """A finished word run's files, made by hand: vectors, config, summary, metrics, eval files."""
    rng = np.random.default_rng(0)
    words = ["<s>", "<unk>"] + list(ROYAL) + [f"w{i}" for i in range(30)]
    V = np.zeros((len(words), 6))  # (V, 6)
    V[:, 3:] = rng.normal(size=(len(words), 3))
    for w, v in ROYAL.items():
        V[words.index(w)] = v + [0] * 3
    d = tmp_path / "run"
    Embeddings(words, V).save_word2vec(d / "embeddings.vec")
    (d / "config.json").write_text(json.dumps({"train": {"max_steps": 4000, "lr": 0.01},
                                               "tokenizer": {"level": "word", "lowercase": True}}))
    (d / "summary.json").write_text(json.dumps({"step": 3000, "stopped": "time budget", "val_loss": 5.1637,
                                                "tokens_per_s": 65148.6}))
    (d / "metrics.jsonl").write_text("\n".join(json.dumps({"step": s, "train_loss": 6 - s / 1e3, "val_loss": 6.1 - s / 1e3})
                                               for s in (1000, 2000, 3000)) + "\n")
    (tmp_path / "q.txt").write_text(": family\nman woman king queen\nboy girl prince princess\nman woman dog cat\n")
    (tmp_path / "ws.tsv").write_text("king\tqueen\t8\nking\tw1\t1\nman\twoman\t7\nboy\tw2\t2\nzz\tking\t3\n")
    return d


def test_report_gives_the_answer_first_and_the_configuration_last(run, tmp_path):
    out = write_report(run, tmp_path / "q.txt", tmp_path / "ws.tsv", explorer=False, tsne=False)
    md = out.read_text()
    assert out == run / "report.md"
    sections = [md.index(s) for s in ("undertrained: stopped at 3,000 of 4,000 steps (time budget)",
                                      "| king |", "king − man + woman = queen", "| Google analogies, total | 100.0 % | 2 of 3",
                                      "| ws (Spearman ρ) |", "![training curve](curve.png)", "![PCA](plot-pca.png)",
                                      "<details><summary>Configuration")]
    assert sections == sorted(sections)
    assert "65,149" in md and "65148.6" not in md and "| val loss | 5.164 |" in md
    assert "only 3 evaluation(s); `--eval-every 200`" in md
    assert "4 of 5 pairs" in md and (run / "curve.png").exists() and (run / "plot-pca.png").exists()


def test_report_links_a_written_explorer_page(run, tmp_path):
    pytest.importorskip("plotly")
    md = write_report(run, tmp_path / "q.txt", explorer=True, tsne=False).read_text()
    assert "[explore.html](explore.html)" in md and (run / "explore.html").stat().st_size > 1e6


@pytest.mark.parametrize("summary, steps, flag", [
    ({"step": 3000}, 4000, "undertrained: stopped at 3,000 of 4,000 steps"),
    ({"step": 3900}, 4000, ""),
    ({"step": 4000, "undertrained": True}, 4000, "undertrained: stopped at 4,000 of 4,000 steps"),
    ({}, 4000, "")])
def test_undertrained_flag(summary, steps, flag):
    assert undertrained(summary, {"train": {"max_steps": steps}}) == flag


def test_numbers_read_well():
    assert [fmt_num(x) for x in (65148.6, 5.16375, 2, 1.2e-05, True, float("nan"), None)] == \
        ["65,149", "5.164", "2", "1.20e-05", "True", "-", "-"]
