import pytest
import torch

from wordmore.optim import RowAdam, optim_state


def _sparse_grad(gen, V, D, N):
    idx = torch.randint(0, V, (N,), generator=gen)  # repeats, as an embedding's backward gives them
    return torch.sparse_coo_tensor(idx[None], torch.randn(N, D, generator=gen), (V, D),
                                   check_invariants=False)


def _summed(g):
    """The gradient as SparseRows hands it over: unique sorted rows, without the coalesced flag."""
    c = g.coalesce()
    return torch.sparse_coo_tensor(c._indices(), c._values(), c.shape, check_invariants=False)


@pytest.mark.parametrize("summed", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_row_adam_follows_sparse_adam(fused, summed, monkeypatch):
    if not fused:
        monkeypatch.delattr(torch, "_fused_adam_")  # the plain-ops path
    gen = torch.Generator().manual_seed(0)
    V, D = 50, 7
    w0 = torch.randn(V, D, generator=gen)
    a, b = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(w0.clone())
    ra, sa = RowAdam([a], lr=1e-2, betas=(0.9, 0.99)), torch.optim.SparseAdam([b], lr=1e-2, betas=(0.9, 0.99))
    untouched = set(range(V))
    for _ in range(6):
        g = _sparse_grad(gen, V, D, 20)
        untouched -= set(g._indices()[0].tolist())
        a.grad, b.grad = (_summed(g) if summed else g.clone()), g.clone()
        ra.step()
        sa.step()
    torch.testing.assert_close(a.data, b.data, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ra.state[a]["exp_avg_sq"], sa.state[b]["exp_avg_sq"])
    assert untouched and all(torch.equal(a.data[r], w0[r]) for r in untouched)  # lazy: other rows stay put
    assert not torch.equal(a.data, w0)


def test_row_adam_state_round_trip_and_sparse_adam_checkpoints():
    gen = torch.Generator().manual_seed(1)
    p = torch.nn.Parameter(torch.zeros(10, 3))
    sa = torch.optim.SparseAdam([p], lr=1e-2)
    p.grad = _sparse_grad(gen, 10, 3, 5)
    sa.step()
    ra = RowAdam([p], lr=1e-2)
    ra.load_state_dict(sa.state_dict())  # an older checkpoint written with SparseAdam
    p.grad = _sparse_grad(gen, 10, 3, 5)
    ra.step()
    assert float(ra.state[p]["step"]) == 2.0
    again = RowAdam([p], lr=1e-2)
    again.load_state_dict(ra.state_dict())
    torch.testing.assert_close(again.state[p]["exp_avg"], ra.state[p]["exp_avg"])


def test_row_adam_refuses_dense_gradients_and_bad_settings():
    p = torch.nn.Parameter(torch.zeros(4, 2))
    p.grad = torch.ones(4, 2)
    with pytest.raises(ValueError, match="sparse"):
        RowAdam([p]).step()
    with pytest.raises(ValueError, match="lr and eps must be positive"):
        RowAdam([p], lr=0.0)
    with pytest.raises(ValueError, match=r"betas in \[0, 1\)"):
        RowAdam([p], betas=(0.9, 1.0))


def test_optim_state_writes_a_tensor_lr_as_a_number_and_loads_back():
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([w], lr=1e-2)
    w.grad = torch.ones(3)
    opt.step()
    opt.param_groups[0]["lr"] = torch.tensor(5e-4)  # what GraphedStep does
    sd = optim_state(opt)
    assert type(sd["param_groups"][0]["lr"]) is float and sd["param_groups"][0]["lr"] == pytest.approx(5e-4)
    assert isinstance(opt.param_groups[0]["lr"], torch.Tensor)  # the live optimizer keeps its tensor
    other = torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))], lr=1.0)
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == pytest.approx(5e-4)
    torch.testing.assert_close(other.state[other.param_groups[0]["params"][0]]["exp_avg"], torch.full((3,), 0.1))
