import torch

from licodec.entropy import CodingTables, FactorizedDensity


def _trained_density(steps=150):
    torch.manual_seed(0)
    d = FactorizedDensity(3)
    opt = torch.optim.Adam([{"params": [p for n, p in d.named_parameters() if n != "quantiles"], "lr": 1e-2}, {"params": [d.quantiles], "lr": 0.3}])
    data = torch.randn(64, 3, 4, 4) * torch.tensor([0.5, 2.0, 6.0]).reshape(1, 3, 1, 1) + torch.tensor([0.0, 1.0, -2.0]).reshape(1, 3, 1, 1)
    for _ in range(steps):
        opt.zero_grad()
        _, lik = d(data)
        loss = -torch.log2(lik).mean() + d.aux_loss()
        loss.backward()
        opt.step()
    return d


def test_cumulative_monotone_and_likelihoods_sum_to_one():
    d = _trained_density()
    x = torch.linspace(-60, 60, 4001).reshape(1, 1, -1).expand(3, 1, -1)
    c = d.cdf(x)
    assert (c[..., 1:] >= c[..., :-1]).all()
    v = torch.arange(-200, 201, dtype=torch.float32)
    for ch in range(3):
        inp = torch.zeros(1, 3, 1, v.numel())
        inp[0, ch, 0] = v
        lik = d.likelihood(inp)[0, ch, 0]
        assert abs(lik.sum().item() - 1) < 1e-4


def test_quantiles_learn_the_tails_and_tables_cover_them():
    d = _trained_density(steps=400)
    med = d.medians()
    assert abs(med[1] - 1.0) < 0.6 and abs(med[2] + 2.0) < 1.5
    medians, offsets, pmfs, tails = d.pmf_table()
    # The widest channel gets the widest support.
    assert len(pmfs[2]) > len(pmfs[0])
    t = CodingTables.from_pmfs(offsets, pmfs, tails)
    for c in range(3):
        f = t.freqs[c, : t.lengths[c] + 1]
        assert f.sum() == 1 << t.precision and (f >= 1).all()


def test_eval_rounds_around_median():
    d = FactorizedDensity(2).eval()
    with torch.no_grad():
        d.quantiles[:, 0, 1] = torch.tensor([0.3, -0.2])
    x = torch.tensor([0.9, 0.0]).reshape(1, 2, 1, 1)
    x_hat, _ = d(x)
    assert torch.allclose(x_hat.flatten(), torch.tensor([1.3, -0.2]))


def test_fit_quantiles_reaches_the_tails_of_a_fixed_density():
    d = _trained_density(steps=60)  # quantiles still far from their targets
    before = d.aux_loss().item()
    density_state = {k: v.clone() for k, v in d.state_dict().items() if k != "quantiles"}
    after = d.fit_quantiles(steps=1500)
    assert after < before / 20 and after < 1.0, (before, after)
    for k, v in d.state_dict().items():
        if k != "quantiles":
            assert torch.equal(v, density_state[k]), k  # only the quantiles moved
