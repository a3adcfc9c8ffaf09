import math

import pytest
import torch

from wordmore.config import ModelConfig
from wordmore.errors import WordmoreError
from wordmore.model import ContextMLP, SampledSoftmaxLoss, SparseRows, mask_hits, unique_rows


def cfg(**kw):
    base = dict(vocab_size=30, context=3, n_embd=4, n_hidden=16)
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize("window,T", [("left", 3), ("both", 6)])
def test_shapes_and_initial_loss_near_uniform(window, T):
    torch.manual_seed(0)
    m = ContextMLP(cfg(window=window))
    x = torch.randint(0, 30, (8, T))
    y = torch.randint(0, 30, (8,))
    logits, loss = m(x, y)
    assert logits.shape == (8, 30)
    assert abs(loss.item() - math.log(30)) < 0.05  # not over-confident at init


def test_embedding_init_is_small():
    m = ContextMLP(cfg(emb_init=0.01))
    assert m.C.weight.std().item() < 0.02


def test_adaptive_head_gives_normalised_log_probs():
    torch.manual_seed(0)
    m = ContextMLP(cfg(vocab_size=50, head="adaptive", cutoffs=[5, 20]))
    x = torch.randint(0, 50, (4, 3))
    lp = m.log_probs(x)
    assert lp.shape == (4, 50)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(4), atol=1e-5)
    _, loss = m(x, torch.randint(0, 50, (4,)))
    assert loss.item() > 0


def test_neg_head_loss_and_sparse_grads():
    torch.manual_seed(0)
    m = ContextMLP(cfg(head="neg", negatives=8), sparse=True)
    m.set_noise([5] * 10 + [0] * 20)  # noise only from ids 1..9
    m.generator = torch.Generator().manual_seed(0)
    _, loss = m(torch.randint(0, 30, (6, 3)), torch.randint(10, 30, (6,)))
    loss.backward()
    assert m.C.weight.grad.is_sparse and m.out_emb.weight.grad.is_sparse
    # zero-initialised output table: every logit is 0, so loss = log 2 * (1 + neg_weight)
    assert abs(loss.item() - math.log(2) * (1 + m.cfg.neg_weight)) < 1e-4
    assert m.noise[0] == 0  # the boundary is never noise
    with pytest.raises(ValueError, match="no normalised probabilities"):
        m.log_probs(torch.zeros(1, 3, dtype=torch.long))


def test_model_learns_a_deterministic_sequence():
    torch.manual_seed(0)
    m = ContextMLP(cfg(vocab_size=5, context=2, emb_init=0.1))
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    x = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4]])
    y = torch.tensor([2, 3, 4, 0])
    for _ in range(200):
        _, loss = m(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert m(x)[0].argmax(-1).tolist() == y.tolist()


def test_unknown_head_and_out_of_range_sizes_rejected():
    with pytest.raises(WordmoreError, match="--head must be one of softmax, adaptive, neg, sampled"):
        ContextMLP(cfg(head="hs"))
    with pytest.raises(WordmoreError, match="--n-layer must be at most 64"):
        ContextMLP(cfg(n_layer=100000))
    with pytest.raises(WordmoreError, match="--negatives must be at most"):
        ContextMLP(cfg(head="neg", negatives=10 ** 9))


def test_sampled_softmax_head_starts_at_log_of_candidates_and_learns():
    torch.manual_seed(0)
    m = ContextMLP(cfg(head="sampled", negatives=16))
    m.set_noise([0] + [5] * 29)
    m.generator = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 30, (32, 3)), torch.randint(1, 30, (32,))
    _, loss0 = m(x, y)
    assert abs(loss0.item() - math.log(17)) < 0.05  # zero output table: uniform over target + 16 noise words
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    for _ in range(100):
        _, loss = m(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < loss0.item() / 2


def test_direct_connections_add_a_linear_path():
    torch.manual_seed(0)
    m = ContextMLP(cfg(direct=True))
    x = torch.randint(0, 30, (4, 3))
    assert m.direct is not None and m.direct.weight.shape == (16, 12)
    with torch.no_grad():
        m.direct.weight.zero_()
        h0 = m.features(x)
        m.direct.weight.fill_(1.0)
        h1 = m.features(x)
    emb = m.C(x).flatten(1)
    assert torch.allclose(h1 - h0, emb.sum(1, keepdim=True).expand(4, 16), atol=1e-6)


def test_fused_hidden_and_direct_matmul_equals_the_two_layers():
    torch.manual_seed(0)
    m = ContextMLP(cfg(direct=True, n_layer=2))
    x = torch.randint(0, 30, (5, 3))
    emb = m.C(x).flatten(1)
    first, second = m.hidden[0], m.hidden[2]
    want = torch.tanh(second(torch.tanh(first(emb)))) + m.direct(emb)
    assert torch.allclose(m.features(x), want, atol=1e-6)


@pytest.mark.parametrize("n", [3, 400])  # the sort branch and the mask branch
def test_unique_rows_matches_torch_unique(n):
    idx = torch.randint(0, 50, (n,))
    rows, inv = unique_rows(idx, 50)
    want_rows, want_inv = torch.unique(idx, return_inverse=True)
    assert torch.equal(rows, want_rows) and torch.equal(inv, want_inv)


@pytest.mark.parametrize("chunk", [4096, 5])
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_sparse_rows_gives_summed_coalesced_gradient(chunk, dtype, monkeypatch):
    monkeypatch.setattr(SparseRows, "chunk", chunk)
    torch.manual_seed(0)
    w = torch.randn(20, 4, requires_grad=True)
    idx = torch.tensor([[3, 3, 7], [0, 7, 19], [3, 5, 5]])  # repeats within and across rows
    out = SparseRows.apply(w, idx, dtype)
    assert out.shape == (3, 3, 4) and out.dtype == (dtype or torch.float32)
    assert torch.allclose(out.float(), w[idx], atol=1e-2 if dtype else 0)
    g = torch.randn(3, 3, 4)
    out.backward(g.to(out.dtype))
    grad = w.grad
    assert grad.is_sparse and grad._indices()[0].tolist() == [0, 3, 5, 7, 19]  # each row once, sorted
    want = torch.zeros(20, 4).index_add_(0, idx.reshape(-1), g.to(out.dtype).float().reshape(-1, 4))
    assert torch.allclose(grad.to_dense(), want, atol=1e-6)


def test_sparse_rows_reads_zeros_where_words_are_dropped():
    torch.manual_seed(0)
    w = torch.randn(20, 4, requires_grad=True)
    idx = torch.tensor([[3, 3, 7], [0, 7, 19]])
    keep = torch.tensor([[True, False, True], [False, True, True]])  # row 0 only ever dropped
    out = SparseRows.apply(w, idx, None, keep)
    assert torch.equal(out, w[idx] * keep.unsqueeze(-1))
    g = torch.randn(2, 3, 4)
    out.backward(g)
    assert w.grad._indices()[0].tolist() == [0, 3, 7, 19]  # a dropped row is listed, with a zero gradient
    want = torch.zeros(20, 4).index_add_(0, idx.reshape(-1), (g * keep.unsqueeze(-1)).reshape(-1, 4))
    assert torch.equal(w.grad.to_dense(), want)


def test_sparse_rows_backward_inside_cpu_autocast_stays_fp32():
    w = torch.randn(20, 3, requires_grad=True)
    idx = torch.tensor([4, 4, 9, 0, 19])
    out = SparseRows.apply(w, idx, None)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the row sum's product must not be cast to bf16
        (out * torch.arange(5.0)[:, None]).sum().backward()
    want = torch.zeros(20, 3).index_add_(0, idx, torch.arange(5.0)[:, None].expand(5, 3))
    assert w.grad.dtype == torch.float32 and torch.equal(w.grad.to_dense(), want)


@pytest.mark.parametrize("sparse", [False, True])
def test_word_dropout_zeroes_dropped_words_and_scales_the_rest(sparse):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=30, context=3, n_embd=8, n_hidden=16, dropout=0.25, direct=True)
    m = ContextMLP(cfg, sparse=sparse)
    idx = torch.randint(0, 30, (64, 3))
    torch.manual_seed(1)
    h = m.features(idx)  # (64, 16)
    h.square().sum().backward()
    torch.manual_seed(1)
    keep = torch.rand(idx.shape) >= 0.25  # the same draw: one per window word
    C = m.C.weight.detach().clone().requires_grad_()
    x = (C[idx] * keep.unsqueeze(-1) / 0.75).flatten(1)  # (64, 24) the textbook form: the input masked, scaled
    want = torch.tanh(m.hidden[0](x)) + m.direct(x)
    torch.testing.assert_close(h, want)
    want.square().sum().backward()
    grad = m.C.weight.grad.to_dense() if sparse else m.C.weight.grad
    torch.testing.assert_close(grad, C.grad)


def test_mask_hits_on_cpu_equals_the_dense_mask():
    torch.manual_seed(0)
    targets = torch.randint(0, 12, (40,))
    neg = torch.randint(0, 12, (9,))  # duplicates among the noise words too
    logits = torch.randn(40, 9)
    want = logits.masked_fill(neg[None, :] == targets[:, None], -7.0)
    assert (want == -7.0).sum() > 5  # the case is exercised
    assert torch.equal(mask_hits(logits.clone(), targets, neg, -7.0), want)


def test_sampled_softmax_loss_equals_cross_entropy_with_target_first():
    torch.manual_seed(0)
    targets, neg = torch.tensor([1, 2, 3, 2, 9, 4]), torch.tensor([2, 5, 2, 7, 4])  # hits in rows 1, 3, 5
    pos = torch.randn(6, dtype=torch.float64, requires_grad=True)
    s = (torch.randn(6, 5, dtype=torch.float64) * 3).requires_grad_()
    c = torch.randn(5, dtype=torch.float64, requires_grad=True)
    loss = SampledSoftmaxLoss.apply(pos, s, c, targets, neg)
    hit = neg[None, :] == targets[:, None]
    logits = torch.cat([pos[:, None], (s + c).masked_fill(hit, float("-inf"))], 1)
    want = torch.nn.functional.cross_entropy(logits, torch.zeros(6, dtype=torch.long))
    assert torch.allclose(loss, want)
    assert torch.autograd.gradcheck(lambda p, s, c: SampledSoftmaxLoss.apply(p, s, c, targets, neg), (pos, s, c))
    s.grad = None
    SampledSoftmaxLoss.apply(pos, s, c, targets, neg).backward()
    assert (s.grad[hit] == 0).all() and (s.grad[~hit] > 0).all()  # a hit is no negative: no gradient


@pytest.mark.parametrize("head", ["sampled", "softmax"])
def test_tied_tables_share_one_parameter_and_learn(head):
    torch.manual_seed(0)
    m = ContextMLP(cfg(head=head, n_embd=16, n_hidden=16, tie=True, negatives=8))
    out = m.out_emb.weight if head == "sampled" else m.out.weight
    assert out is m.C.weight
    assert sum(p is m.C.weight for p in m.parameters()) == 1  # one parameter, optimised once
    m.set_noise([0] + [5] * 29)
    m.generator = torch.Generator().manual_seed(0)
    _, loss = m(torch.randint(0, 30, (8, 3)), torch.randint(1, 30, (8,)))
    loss.backward()
    assert m.C.weight.grad is not None and m.C.weight.grad.abs().sum() > 0
    with pytest.raises(WordmoreError, match="--tie needs --n-embd equal to --n-hidden"):
        ContextMLP(cfg(tie=True, n_embd=4, n_hidden=16))


@pytest.mark.parametrize("head,tie,n", [("sampled", False, 2), ("sampled", True, 1), ("softmax", False, 2),
                                        ("softmax", True, 1), ("adaptive", False, 1)])
def test_word_tables_are_c_then_an_output_table_of_its_own(head, tie, n):
    m = ContextMLP(cfg(head=head, tie=tie, n_embd=16, n_hidden=16, negatives=8, cutoffs=[10]))
    tables = m.word_tables()
    assert len(tables) == n and tables[0] is m.C.weight
    assert all(t.shape == (30, 16) for t in tables)


@pytest.mark.parametrize("direct", [False, True])
def test_window_map_is_the_first_layers_linear_reading_of_a_word(direct):
    m = ContextMLP(cfg(head="sampled", n_embd=4, n_hidden=6, negatives=8, context=2, window="both", direct=direct))
    M = m.window_map()  # (4, 6)
    assert M.shape == (4, 6)
    w = 7
    x = m.C.weight[w].repeat(m.cfg.n_ctx)  # the window that is word w at every position, (T*D,)
    z = m.hidden[0].weight @ x + (m.direct.weight @ x if direct else 0)  # (H,) the linear parts of both paths
    assert torch.allclose(z, m.cfg.n_ctx * (m.C.weight[w] @ M), atol=1e-6)
    C, out = m.joined_tables()
    assert C.shape == out.shape == (30, 6) and torch.allclose(C, m.C.weight @ M)
    assert len(ContextMLP(cfg(head="sampled", tie=True, n_embd=6, n_hidden=6, negatives=8)).joined_tables()) == 1


def test_dropout_acts_while_training_only():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=30, context=3, n_embd=8, n_hidden=16, dropout=0.5, direct=True)
    m, plain = ContextMLP(cfg), ContextMLP(ModelConfig(**{**cfg.__dict__, "dropout": 0.0}))
    plain.load_state_dict(m.state_dict())
    idx = torch.randint(0, 30, (64, 3))
    m.train()
    assert not torch.allclose(m.features(idx), m.features(idx))  # a fresh mask each call
    m.eval()
    torch.testing.assert_close(m.features(idx), plain.eval().features(idx))  # evaluation reads every input
    with pytest.raises(WordmoreError, match="dropout"):
        ModelConfig(vocab_size=30, dropout=1.0).validate()
    m.train()
    m.word_dropout.fill_(0.0)  # the step's rate is the buffer the trainer ramps, not the config's peak
    torch.testing.assert_close(m.features(idx), plain.eval().features(idx))
    assert "word_dropout" not in m.state_dict()  # checkpoints keep their keys
