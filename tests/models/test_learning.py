import torch

from licodec.models import bits, create
from tests.conftest import smooth_image


def test_joint_model_learns_one_image():
    """300 Adam steps on one 64x64 image lower rate + λ·255²·MSE by at least 5x."""
    torch.manual_seed(0)
    x = smooth_image(64, 64)
    model = create("mbt2018", N=32, M=32)
    opt = torch.optim.Adam(model.main_parameters(), lr=3e-3)
    aux_opt = torch.optim.Adam(model.aux_parameters(), lr=3e-2)
    lmbda = 0.01

    def loss_of(out):
        bpp = bits(out["likelihoods"]) / (x.shape[-1] * x.shape[-2])
        return bpp + lmbda * 255**2 * torch.mean((out["x_hat"] - x) ** 2)

    with torch.no_grad():
        model.eval()
        before = loss_of(model(x)).item()
        model.train()
    for _ in range(300):
        opt.zero_grad()
        aux_opt.zero_grad()
        loss = loss_of(model(x))
        (loss + model.aux_loss()).backward()
        opt.step()
        aux_opt.step()
    with torch.no_grad():
        model.eval()
        after = loss_of(model(x)).item()
    assert after < before / 5, (before, after)
