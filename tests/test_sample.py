import torch

from lra.diffusion.schedule import CosineSchedule
from lra.diffusion.readout import read_out
from lra.diffusion.sample import ddim_sample, ddim_step


def test_ddim_step_recovers_y0_exactly_given_the_true_noise():
    sch = CosineSchedule(1000)
    torch.manual_seed(0)
    y0 = torch.nn.functional.one_hot(torch.tensor([2, 0, 1]), 4).double()
    eps = torch.randn_like(y0)
    ab = sch.alpha_bar.double()
    y_t = ab[701].sqrt() * y0 + (1 - ab[701]).sqrt() * eps
    y_prev, y0_hat = ddim_step(y_t, eps, ab[701], ab[601])
    assert torch.allclose(y0_hat, y0, atol=1e-12)
    assert torch.allclose(y_prev, ab[601].sqrt() * y0 + (1 - ab[601]).sqrt() * eps, atol=1e-12)
    y_last, _ = ddim_step(y_t, eps, ab[701], torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(y_last, y0, atol=1e-12)


class Oracle(torch.nn.Module):
    """A denoiser that knows y_0: it returns the exact noise of y_t."""

    def __init__(self, y0, schedule):
        super().__init__()
        self.y0, self.sch = y0, schedule
        self.hparams = {"num_classes": y0.shape[1]}

    def forward(self, y_t, t, fp, fq=None):
        ab = self.sch.alpha_bar[t, None]
        return (y_t - ab.sqrt() * self.y0) / (1 - ab).sqrt()


def test_deterministic_sampling_from_zero_lands_on_the_true_label():
    sch = CosineSchedule(1000).to("cpu")
    y0 = torch.nn.functional.one_hot(torch.tensor([3, 1, 0, 2]), 5).float()
    out = ddim_sample(Oracle(y0, sch), sch, fp=torch.zeros(4, 7), steps=10)
    assert torch.allclose(out, y0, atol=1e-4)
    assert read_out(out).tolist() == [3, 1, 0, 2]


def test_stochastic_sampling_with_eta_also_lands_on_the_true_label():
    sch = CosineSchedule(1000).to("cpu")
    y0 = torch.nn.functional.one_hot(torch.tensor([1, 0]), 3).float()
    torch.manual_seed(0)
    out = ddim_sample(Oracle(y0, sch), sch, fp=torch.zeros(2, 1), steps=10, eta=1.0, y_T=torch.randn(2, 3))
    assert read_out(out).tolist() == [1, 0]


def test_read_out_picks_the_component_closest_to_one():
    assert read_out(torch.tensor([[0.1, 1.2, 3.0], [0.9, 0.0, -1.0]])).tolist() == [1, 0]
