import itertools

import torch

from licodec.entropy import GaussianConditional, GaussianMixtureConditional, gaussian_tables, scale_table


def _support(n=2001):
    return torch.arange(-(n // 2), n // 2 + 1, dtype=torch.float64)


def test_gaussian_likelihoods_sum_to_one():
    cond = GaussianConditional(likelihood_bound=0.0)
    v = _support()
    for mu, sigma in itertools.product([-3.7, -0.5, 0.0, 0.25, 0.5, 12.3], [0.11, 0.3, 1.0, 4.5, 40.0, 200.0]):
        params = torch.tensor([sigma, mu], dtype=torch.float64).reshape(1, 2, 1, 1).expand(1, 2, v.numel(), 1)
        p = cond.likelihood(v.reshape(1, 1, -1, 1), params)
        assert abs(p.sum().item() - 1) < 1e-4, (mu, sigma, p.sum().item())


def test_scale_only_gaussian_sums_to_one():
    cond = GaussianConditional(use_means=False, likelihood_bound=0.0)
    v = _support()
    for sigma in [0.11, 1.0, 30.0]:
        params = torch.full((1, 1, v.numel(), 1), sigma, dtype=torch.float64)
        assert abs(cond.likelihood(v.reshape(1, 1, -1, 1), params).sum().item() - 1) < 1e-4


def test_mixture_likelihoods_sum_to_one():
    cond = GaussianMixtureConditional(3, likelihood_bound=0.0)
    v = _support()
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        logits = torch.randn(3, generator=g) * 2
        means = torch.randn(3, generator=g) * 10
        scales = torch.rand(3, generator=g) * 20 + 0.05
        params = torch.cat([logits, means, scales]).double().reshape(1, 9, 1, 1).expand(1, 9, v.numel(), 1)
        p = cond.likelihood(v.reshape(1, 1, -1, 1), params)
        assert abs(p.sum().item() - 1) < 1e-4


def test_likelihood_is_lower_bounded_and_sigma_bounded():
    cond = GaussianConditional()
    params = torch.tensor([-5.0, 0.0]).reshape(1, 2, 1, 1)
    p = cond.likelihood(torch.tensor([[[[1e6]]]]), params)
    assert p.item() == torch.tensor(1e-9).item()
    s, _ = cond.split(params)
    assert s.item() == torch.tensor(cond.scale_bound).item()


def test_gaussian_tables_are_valid_distributions():
    scales = scale_table()
    t = gaussian_tables(scales)
    assert len(t) == 64
    for d in range(len(t)):
        n = t.lengths[d]
        f = t.freqs[d, : n + 1].astype(int)
        assert f.sum() == 1 << t.precision and (f >= 1).all()
        assert t.offsets[d] == -(n // 2)
    # Wider scale -> wider support, and the centre is most likely.
    assert (t.lengths[1:] >= t.lengths[:-1]).all()
    mid = -t.offsets[10]
    assert t.freqs[10, mid] == t.freqs[10, : t.lengths[10]].max()
