import argparse

import pytest
import torch

from wordmore.cli import build_parser
from wordmore.config import PRESETS, SECTIONS, ModelConfig, RunConfig, dropout_at, expected_passes, resolve_config
from wordmore.errors import WordmoreError
from wordmore.options import field_choices


def test_presets_then_overrides():
    cfg = resolve_config("word", {"model": {"n_hidden": 7}})
    assert cfg.data.dataset == "fairy" and cfg.model.n_hidden == 7 and cfg.tokenizer.level == "word"
    assert RunConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()


def test_word_preset_joins_untied_tables_and_flags_win():
    m = resolve_config("word", {}).model
    assert (m.tie, m.vectors, m.direct, m.cross) == (False, "joined", True, 0.2)
    assert resolve_config("char", {}).model.cross == 0.0  # one table: nothing to cross
    assert resolve_config("word", {"model": {"tie": True}}).model.tie  # a flag wins
    assert resolve_config("word", {"model": {"vectors": "input"}}).model.vectors == "input"
    assert resolve_config("char", {}).model.vectors == "input"
    for flags, one in [({"vectors": "input"}, "--vectors input"), ({"tie": True}, "--tie"),
                       ({"head": "adaptive"}, "--head adaptive"), ({}, "--vectors input")]:  # char: C itself
        with pytest.raises(WordmoreError, match=f"--cross weighs the cross terms of two joined tables: with {one} "):
            resolve_config("char" if not flags else "word", {"model": {**flags, "cross": 0.5}})  # given, a no-op
    assert resolve_config("word", {"model": {"vectors": "input", "cross": 0.0}}).model.cross == 0.0  # 0 is no-op
    assert resolve_config("word", {"model": {"cross": 0.5}}).model.cross == 0.5
    for flag, value, head, needs in [("negatives", 8, "softmax", "neg or sampled"), ("neg_weight", 2.0, "sampled", "neg"),
                                     ("cutoffs", [10], "neg", "adaptive"), ("div_value", 2.0, "softmax", "adaptive")]:
        with pytest.raises(WordmoreError, match=f"--{flag.replace('_', '-')} is for --head {needs}: with --head "
                                                f"{head} it would do nothing"):
            resolve_config("word", {"model": {"head": head, flag: value}})
    assert resolve_config("word", {"model": {"head": "neg", "neg_weight": 2.0, "negatives": 8}}).model.neg_weight == 2.0
    assert resolve_config("char", {}).model.negatives == 256  # a default no head reads is no flag given


def test_word_preset_is_the_same_on_a_cuda_gpu_and_flags_win(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = resolve_config("word", {})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = resolve_config("word", {})
    assert gpu.to_dict() == cpu.to_dict()
    t = cpu.train
    assert (t.batch_size, t.subsample, t.subsample_context, cpu.model.vectors) == (8192, 1e-4, 1e-3, "joined")
    assert (cpu.model.dropout, t.dropout_passes) == (0.3, 11.5)  # full word dropout at the preset's 11.5 passes
    assert resolve_config("word", {"train": {"batch_size": 64}}).train.batch_size == 64  # a flag wins
    assert resolve_config("word", {"train": {"subsample_context": 0.0}}).train.subsample_context == 0.0
    assert resolve_config("char", {}).train.subsample_context == 0.0


def test_validate_names_the_flag_and_its_limit():
    cfg = resolve_config("word", {"model": {"n_layer": 100000}})
    with pytest.raises(WordmoreError, match="--n-layer must be at most 64, got 100000"):
        cfg.validate()
    with pytest.raises(WordmoreError, match="--window must be one of left, both, not 'middle'"):
        resolve_config("char", {"model": {"window": "middle"}}).validate()
    with pytest.raises(WordmoreError, match="--val-frac must be < 1.0"):
        resolve_config("char", {"data": {"val_frac": 1.5}}).validate()
    assert resolve_config("word", {}).validate().model.vectors == "joined"  # the presets themselves are valid
    parser = build_parser()
    for flags, msg in [(["--epochs", "inf"], "must be a finite number, got inf"),
                       (["--lr", "-inf"], "must be a finite number, got -inf"), (["--lr", "nan"], "got nan"),
                       (["--seed", str(2**63)], "must be at most 9,223,372,036,854,775,807")]:
        with pytest.raises(SystemExit) as e:  # argparse: exit 2 with the flag and the reason, no traceback
            parser.parse_args(["train", *flags])
        assert e.value.code == 2
    with pytest.raises(WordmoreError, match="--epochs must be a finite number, got inf"):
        resolve_config("word", {"train": {"epochs": float("inf")}}).validate()  # the dataclass rule, for callers
    assert resolve_config("char", {}).validate().train.level == "char"


def test_the_tie_rule_is_one_method_used_by_validate():
    m = ModelConfig(n_embd=8, n_hidden=16, tie=True)
    assert m.conflict() == "--tie needs --n-embd equal to --n-hidden (got 8 and 16)"
    assert ModelConfig(n_embd=8, n_hidden=8, tie=True, head="adaptive").conflict() == \
        "--tie needs a head with a row per word: not --head adaptive"  # the widths are not to blame
    with pytest.raises(WordmoreError, match="--tie needs"):
        m.validate()
    assert ModelConfig(n_embd=8, n_hidden=8, tie=True, head="sampled").conflict() is None
    assert "adaptive" in ModelConfig(n_embd=8, n_hidden=8, tie=True, head="adaptive").conflict()


def test_cli_flags_take_choices_and_help_from_the_dataclasses():
    train = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    by_dest = {a.dest: a for a in train._actions}
    assert tuple(by_dest["model.head"].choices) == field_choices(ModelConfig, "head") == (
        "softmax", "adaptive", "neg", "sampled")
    assert by_dest["model.window"].help.startswith("left: a language model")
    for section, kls in SECTIONS.items():  # every offered field has a help text
        for name in kls.__dataclass_fields__:
            action = by_dest.get(f"{section}.{name}")
            if action is not None:
                assert action.help and not action.help.startswith("("), (section, name)
    assert "model.vocab_size" not in by_dest and "train.level" not in by_dest  # filled in by the code
    assert "(default 200)" in by_dest["train.warmup"].help  # both presets' value, not the dataclass's 100
    assert "default: char 1, word 5" in by_dest["data.min_count"].help


def test_presets_name_only_real_fields():
    for level, sections in PRESETS.items():
        for section, values in sections.items():
            assert set(values) <= set(SECTIONS[section].__dataclass_fields__), (level, section)


def test_length_in_passes_scales_with_the_corpus_and_a_hand_given_length_wins():
    from wordmore.config import planned_steps
    word = resolve_config("word", {}).train
    assert word.epochs > 0 and word.max_steps == 0 and word.minutes > 0  # the demo: passes and a budget
    assert planned_steps(word, 8192 * 100) == round(word.epochs * 100)
    assert planned_steps(word, 8192 * 1000) == 10 * planned_steps(word, 8192 * 100)  # ten times the text
    steps = resolve_config("word", {"train": {"max_steps": 50}}).train
    assert (steps.epochs, steps.minutes, planned_steps(steps, 10 ** 9)) == (0.0, 0.0, 50)
    capped = resolve_config("word", {"train": {"epochs": 2.0, "max_steps": 10}}).train
    assert planned_steps(capped, 8192 * 100) == 10  # --max-steps beside --epochs is a cap
    tokens = resolve_config("word", {"train": {"tokens": 8192 * 3 + 1}}).train
    assert tokens.epochs == 0 and planned_steps(tokens, 10 ** 9) == 4
    assert resolve_config("word", {"data": {"dataset": "mine.txt"}}).train.minutes == 0.0  # no hidden budget
    assert resolve_config("word", {"data": {"dataset": "x"}, "train": {"minutes": 2.0}}).train.minutes == 2.0
    with pytest.raises(WordmoreError, match="--epochs or --tokens, not both"):
        resolve_config("word", {"train": {"epochs": 1.0, "tokens": 5}}).validate()
    with pytest.raises(WordmoreError, match="no length"):
        resolve_config("char", {"train": {"max_steps": 0}}).validate()


def test_word_dropout_follows_the_passes_a_run_is_expected_to_make():
    cfg = resolve_config("word", {"model": {"dropout": 0.4}, "train": {"dropout_passes": 8.0, "minutes": 0}})
    t = cfg.train
    assert expected_passes(t, plan=1000, n_train=t.batch_size * 250, step=0, elapsed=0.0) == pytest.approx(4.0)
    for passes, rate in ((0, 0.0), (2, 0.1), (8, 0.4), (20, 0.4)):  # the share earned, up to --dropout
        t.expected_passes = passes
        assert dropout_at(cfg) == pytest.approx(rate)
    t.dropout_passes = 0.0  # off: --dropout on every run
    assert dropout_at(cfg) == pytest.approx(0.4)
    t.minutes, t.warmup = 10.0, 100  # a budget: undecided until 50 steps past the probe, then the speed decides
    n = t.batch_size * 250  # 4 passes in the plan's 1,000 steps
    assert expected_passes(t, 1000, n, step=99, elapsed=9.0) == 0.0  # no probe yet
    assert expected_passes(t, 1000, n, step=99, elapsed=9.0, probe=(50, 6.0)) == 0.0  # 49 steps past it
    # 50 steps in 3 s after a slow start: 10 minutes allow far more than the plan
    assert expected_passes(t, 1000, n, step=100, elapsed=9.0, probe=(50, 6.0)) == pytest.approx(4.0)
    # 50 steps in 60 s: 100 + (582 - 70) * 50 / 60 = 526.7 steps, 2.11 passes
    assert expected_passes(t, 1000, n, step=100, elapsed=70.0, probe=(50, 10.0)) == pytest.approx(2.11)
    assert expected_passes(t, 10**6, n * 10**6, step=100, elapsed=70.0, probe=(50, 10.0)) == 0.01  # never 0 once decided


def test_the_budget_s_passes_are_measured_again_at_10_and_25_percent_of_it():
    from wordmore.config import PassEstimate
    t = resolve_config("word", {"train": {"minutes": 10.0, "warmup": 100}}).train  # 600 s; probe at step 50
    n = t.batch_size * 250  # one pass = 250 steps
    est = PassEstimate(t, 10**6, n, start_step=0, elapsed=0.0)
    assert est.update(0, 0.0) and t.expected_passes == 0  # the first call sets the rate: none before the decision
    assert not est.update(50, 10.0)  # the probe
    # a slow start: 50 steps in 20 s, so 100 + (582 - 30) * 2.5 = 1,480 steps
    assert est.update(100, 30.0) and t.expected_passes == pytest.approx(5.92)
    assert not est.update(200, 50.0)  # kept until 10 % of the budget
    # at 60 s: 250 steps in 50 s since the probe, 300 + 522 * 5 = 2,910 steps
    assert est.update(300, 60.0) and t.expected_passes == pytest.approx(11.64)
    assert not est.update(301, 61.0) and not est.update(900, 140.0)
    # at 150 s (25 %): 950 steps in 140 s, 1,000 + 432 * 950 / 140 = 3,931 steps
    assert est.update(1000, 150.0) and t.expected_passes == pytest.approx(15.73)
    assert not est.update(2000, 300.0) and t.expected_passes == pytest.approx(15.73)  # no more revisions
    resumed = PassEstimate(t, 10**6, n, start_step=1000, elapsed=100.0)
    assert resumed.rechecks == [150.0]  # only the revisions still ahead
    t.minutes = 0.0  # no budget: the plan's passes, never revised
    t.expected_passes = 0.0
    plain = PassEstimate(t, 1000, n, start_step=0, elapsed=0.0)
    assert plain.update(0, 0.0) and t.expected_passes == pytest.approx(4.0) and not plain.update(500, 400.0)


def test_run_warnings_name_a_warmup_past_the_plan_a_stop_after_past_it_and_too_many_negatives():
    from wordmore.config import run_warnings
    cfg = resolve_config("word", {"train": {"max_steps": 20}})
    w = run_warnings(cfg, 20)
    assert any("--warmup 200 is longer than this run's 20-step plan" in x and "--lr 0.01" in x for x in w), w
    assert not run_warnings(resolve_config("word", {"train": {"max_steps": 20, "warmup": 10}}), 20)
    w = run_warnings(resolve_config("word", {"train": {"max_steps": 300, "stop_after": 500}}), 300)
    assert len(w) == 1 and "--stop-after 500 is beyond this run's 300-step plan" in w[0]
    many = resolve_config("word", {"model": {"negatives": 5000}})
    many.model.vocab_size = 4000
    w = run_warnings(many, 7265)
    assert len(w) == 1 and "--negatives 5,000 is not below the vocabulary's 4,000 words" in w[0]
    many.model.vocab_size = 5000  # as many noise words as words: warned too
    assert len(run_warnings(many, 7265)) == 1
    many.model.vocab_size = 5001
    assert not run_warnings(many, 7265)
    many.model.vocab_size, many.model.head = 4000, "softmax"  # no noise words in a full softmax
    assert not run_warnings(many, 7265)
    assert not run_warnings(resolve_config("word", {}), 7265)  # the preset itself: nothing to say
