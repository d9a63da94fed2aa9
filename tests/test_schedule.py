import math

import pytest
import torch

from lra.core.errors import LraError

from lra.diffusion.schedule import CosineSchedule, ddim_timesteps


def g(u, T=1000, s=0.008):
    return math.cos(((u / T) + s) / (1 + s) * math.pi / 2) ** 2


def test_alpha_bar_matches_closed_form_where_betas_are_not_clipped():
    sch = CosineSchedule(1000)
    for t in (0, 1, 10, 500, 900, 990):
        assert math.isclose(sch.alpha_bar[t].item(), g(t + 1) / g(0), rel_tol=1e-9)
    assert (sch.betas <= 0.999).all()
    assert (sch.alpha_bar[1:] < sch.alpha_bar[:-1]).all()  # strictly decreasing


def test_q_sample_has_the_forward_process_moments():
    sch = CosineSchedule(1000)
    y0 = torch.tensor([[0.0, 1.0, 0.0]]).repeat(200_000, 1)
    t = torch.full((len(y0),), 400)
    torch.manual_seed(0)
    y_t = sch.q_sample(y0, t, torch.randn_like(y0)).double()
    ab = sch.alpha_bar[400].item()
    assert torch.allclose(y_t.mean(0), math.sqrt(ab) * y0[0].double(), atol=0.01)
    assert torch.allclose(y_t.var(0), torch.full((3,), 1 - ab, dtype=torch.float64), atol=0.01)


def test_ddim_timesteps_are_the_papers_uniform_grid():
    assert ddim_timesteps(1000, 10) == [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]
    assert ddim_timesteps(100, 10)[-1] == 1
    assert ddim_timesteps(1000, 500)[0] == 999
    with pytest.raises(LraError, match="ddim_steps"):
        ddim_timesteps(100, 51)
