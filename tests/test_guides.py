"""The issue-15 parts of the method: the linear head, neighbour votes, the CARD prior, the
combined read-out (lra.diffusion.head, vote, prior, readout, guides)."""

import numpy as np
import torch

from lra.diffusion import prior as prior_mod
from lra.diffusion.guides import fit_guides
from lra.diffusion.head import fit_head, folds_of, softmax
from lra.diffusion.readout import choose_weights, combine, diffusion_scores, simplex_grid
from lra.diffusion.schedule import CosineSchedule
from lra.diffusion.vote import reliability, vote


def _linear_data(n=300, d=8, C=3, seed=0, flip=0.2):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(C, d)) * 2
    y = rng.integers(0, C, n)
    x = centres[y] + rng.normal(size=(n, d))
    noisy = np.where(rng.random(n) < flip, (y + 1) % C, y)
    return x, y, noisy


def test_head_is_out_of_fold_and_cleaned():
    x, y, noisy = _linear_data()
    h = fit_head(x, noisy, 3, seed=0)
    oof = h.out_of_fold(x)
    assert oof.shape == (300, 3) and np.allclose(oof.sum(1), 1, atol=1e-5)
    assert (oof.argmax(1) == y).mean() > 0.9  # cleaner than the 80 % of the labels it learnt from
    assert h.fold_coef.shape == (5, 3, 8) and set(h.fold) == set(range(5))
    rows = h.fold == 0  # item i's row comes from the probe that left its fold out
    assert np.allclose(oof[rows], softmax(x[rows] @ h.fold_coef[0].T + h.fold_intercept[0]))
    wrong = noisy != y
    assert (~h.kept[wrong]).mean() > 0.5 and h.kept[~wrong].mean() > 0.9  # flags mostly the flips
    assert np.allclose(h.proba(x).sum(1), 1)


def test_head_keeps_every_class_and_absent_classes_get_no_mass():
    x, y, _ = _linear_data(C=3)
    h = fit_head(x, np.minimum(y, 1), 4, seed=0, clean=False)  # classes 2 and 3 never observed
    assert h.proba(x)[:, 2:].max() < 1e-6


def test_folds_are_stratified():
    labels = np.repeat([0, 1], [10, 3])
    f = folds_of(labels, 5, 0)
    assert set(f) == {0, 1, 2} and all(set(labels[f == k]) == {0, 1} for k in range(3))


def test_softmax_rows():
    p = softmax(np.array([[0.0, 1000.0], [1.0, 1.0]]))
    assert np.allclose(p, [[0, 1], [0.5, 0.5]])


def test_vote_weights_and_reliability():
    labels = np.array([[0, 0, 1], [2, 2, 2]])
    assert np.allclose(vote(labels, 3), [[2 / 3, 1 / 3, 0], [0, 0, 1]])
    assert np.allclose(vote(labels, 3, np.array([[0.1, 0.1, 1.0], [1, 1, 1]]))[0], [0.2 / 1.2, 1 / 1.2, 0])
    assert np.allclose(vote(labels, 3, np.zeros((2, 3))), 1 / 3)  # no weight: uniform
    assert np.allclose(reliability(np.array([1, 0]), np.array([[0.3, 0.7], [0.9, 0.1]])), [0.7, 0.9])


def test_prior_forward_process_is_the_plain_one_on_the_residual():
    s = CosineSchedule(100).to("cpu")
    y0, mu = torch.eye(3)[[0, 1]], torch.tensor([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    t, eps = torch.tensor([10, 99]), torch.randn(2, 3)
    y_t = prior_mod.q_sample(s, y0, mu, t, eps)
    ab = s.alpha_bar[t, None]
    expected = ab.sqrt() * y0 + (1 - ab.sqrt()) * mu + (1 - ab).sqrt() * eps  # CARD's formula
    assert torch.allclose(y_t, expected.float(), atol=1e-6)
    assert torch.allclose(prior_mod.q_sample(s, y0, torch.zeros(2, 3), t, eps), s.q_sample(y0, t, eps))


def test_prior_weight_chosen_on_labels():
    head = np.array([[0.7, 0.3], [0.7, 0.3], [0.1, 0.9]])
    votes = np.array([[0.2, 0.8], [0.2, 0.8], [0.1, 0.9]])  # a head weight above 0.6 gets items 0, 1 right
    assert abs(prior_mod.choose_weight(head, votes, np.array([0, 0, 1])) - 0.6) < 1e-9  # the right weight nearest 0.5
    assert prior_mod.choose_weight(head, votes, np.array([1, 1, 1])) == 0.5  # below 0.6 all right: the nearest 0.5
    assert np.allclose(prior_mod.mix(head, votes, 1.0), head)


def test_sampler_with_prior_and_an_idle_denoiser_returns_the_prior():
    from lra.diffusion.sample import ddim_sample

    class Zero(torch.nn.Module):
        hparams = {"num_classes": 3}

        def forward(self, y, t, fp, fq=None, prior=None):
            return torch.zeros_like(y)

    mu = torch.tensor([[0.2, 0.5, 0.3]])
    out = ddim_sample(Zero(), CosineSchedule(100), torch.zeros(1, 4), steps=5, prior=mu)
    assert torch.allclose(out, mu)  # ε̂ = 0 everywhere: the residual stays 0


def test_denoiser_without_prior_is_the_papers():
    from lra.diffusion.model import Denoiser

    torch.manual_seed(0)
    a = Denoiser(3, 4, F=8, T=10)
    torch.manual_seed(0)
    b = Denoiser(3, 4, F=8, T=10, prior=False)
    assert "prior" not in a.hparams and a.cl1.lin.in_features == 7
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    c = Denoiser(3, 4, F=8, T=10, prior=True)
    assert c.hparams["prior"] and c.cl1.lin.in_features == 10
    c.eval()
    assert c(torch.zeros(2, 3), torch.tensor([1, 2]), torch.zeros(2, 4), None, torch.zeros(2, 3)).shape == (2, 3)


def test_readout_grid_and_choice():
    g = simplex_grid(3, 0.5)
    assert g.shape == (6, 3) and np.allclose(g.sum(1), 1) and np.allclose(g[0], [1, 0, 0])
    assert np.allclose(diffusion_scores(np.array([[1.2, 0.5]])), [[0.8, 0.5]])
    d = np.array([[0.6, 0.4], [0.6, 0.4]])  # the diffusion says 0, 0
    h = np.array([[0.0, 1.0], [1.0, 0.0]])  # the head says 1, 0
    assert np.allclose(choose_weights([d, h], np.array([0, 0]), 0.5), [1, 0])  # tie: the diffusion
    w = choose_weights([d, h], np.array([1, 0]), 0.5)
    assert (combine([d, h], w).argmax(1) == [1, 0]).all()
    labels = np.ones(100, np.int64)
    d_pred, h_pred = labels.copy(), labels.copy()
    d_pred[:10], h_pred[-9:] = 0, 2  # the diffusion right on 90, the head on 91
    d_, h_ = np.eye(3)[d_pred] * 0.85 + 0.05, np.eye(3)[h_pred] * 0.85 + 0.05
    assert np.allclose(choose_weights([d_, h_], labels, 0.5), [0, 1])  # the best on val, however slightly
    assert np.allclose(choose_weights([d_, h_], labels, 0.5, tolerance=1.0), [1, 0])  # within one SE: the diffusion


def test_readout_bootstrap_averages_the_resampled_choices():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    right = lambda share: np.where(rng.random(200) < share, labels, (labels + 1) % 3)  # noqa: E731
    parts = [np.eye(3)[right(s)] * 0.8 + 0.1 for s in (0.70, 0.72, 0.60)]
    w = choose_weights(parts, labels, 0.25, bootstrap=50, seed=1)
    assert np.isclose(w.sum(), 1) and (w >= 0).all()
    assert np.array_equal(w, choose_weights(parts, labels, 0.25, bootstrap=50, seed=1))  # the seed fixes it
    draws = np.random.default_rng(1)
    by_hand = [choose_weights([p[i] for p in parts], labels[i], 0.25)
               for i in (draws.integers(0, 200, 200) for _ in range(50))]
    assert np.allclose(w, np.mean(by_hand, axis=0))
    assert len({tuple(v) for v in by_hand}) > 1  # the single choice does swing between resamples
    clear = [np.eye(3)[labels] * 0.8 + 0.1, parts[1], parts[2]]  # one part right everywhere: every resample picks it
    assert np.allclose(choose_weights(clear, labels, 0.25, bootstrap=20), [1, 0, 0])


def test_fit_guides_parts_and_prior():
    x, y, noisy = _linear_data(n=200)
    rows = np.argsort(-(x @ x.T) + 1e9 * np.eye(200), axis=1)[:, :5]
    g = fit_guides(x, noisy, rows, 3, "mix", -1.0, "reliability", x[:20], rows[:20], noisy[:20], seed=0)
    head, votes = g.train_parts(x, rows, 3)
    assert np.array_equal(g.parts(x, rows, 3, np.arange(200))[0], head)  # train positions: out of fold, as train_parts
    assert head.shape == votes.shape == (200, 3) and 0 <= g.prior_weight <= 1
    mu = g.prior(head, votes)
    assert mu.dtype == np.float32 and np.allclose(mu.sum(1), 1, atol=1e-5)
    assert fit_guides(x, noisy, rows, 3, "head").prior_weight == 1.0


def test_rank_weights_break_ties_as_the_knn_vote_baseline():
    from lra.score.baselines import knn_vote
    from lra.diffusion.vote import rank_weights

    labels = np.array([[1, 0, 0, 1], [2, 1, 1, 2], [0, 1, 2, 2]])
    assert (vote(labels, 3, rank_weights(3, 4)).argmax(1) == knn_vote(labels, 3)).all()


def test_clean_head_is_the_clean_learning_baseline_on_new_items():
    from lra.score.baselines import clean_learning

    x, y, noisy = _linear_data(n=200, flip=0.3)
    h = fit_head(x[:150], noisy[:150], 3, seed=1)
    assert np.allclose(h.proba(x[150:]), clean_learning(x[:150], noisy[:150], x[150:], 3, seed=1), atol=1e-6)


def test_head_scores_any_item_and_fits_a_sample_at_scale():
    x, y, noisy = _linear_data(n=400)
    h = fit_head(x, noisy, 3, seed=0, sample=200)  # a stratified half of the train items fit the probes
    assert (h.fold >= 0).sum() == 200 and set(h.fold[h.fold >= 0]) == set(range(5))
    pos = np.arange(400)
    scores = h.scores(x, pos)
    outside = h.fold < 0  # never seen by any probe: scored by the full one
    assert np.allclose(scores[outside], h.proba(x[outside]))
    assert np.allclose(h.scores(x, np.full(400, -1)), h.proba(x))  # new items: the full probe
    assert np.allclose(h.out_of_fold(x), scores)
    assert (h.scores(x, pos).argmax(1) == y).mean() > 0.9


def test_guides_round_trip_through_model_state_and_mix_the_read_out():
    from lra.diffusion.guides import Guides
    from lra.diffusion.readout import combined_class, split_weights

    x, y, noisy = _linear_data()
    rows = np.argsort(-(x @ x.T), axis=1)[:, 1:6]
    g = fit_guides(x[:250], noisy[:250], rows[:250] % 250, 3, "mix", -1.0, "none", x[250:], rows[250:] % 250,
                   noisy[250:], seed=0)
    g.readout_weights = np.array([0.5, 0.25, 0.25])
    back = Guides.from_state(g.state())
    head, votes = back.parts(x[250:], rows[250:] % 250, 3, np.full(50, -1))
    assert np.allclose(head, g.head.proba(x[250:])) and back.prior_weight == g.prior_weight
    y0 = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    scores = back.scores(y0, head, votes)
    assert np.allclose(scores, combine([diffusion_scores(y0), head, votes], [0.5, 0.25, 0.25]))
    w, rest = split_weights(back.readout_weights, [head, votes])
    assert (combined_class(torch.as_tensor(y0), w, torch.as_tensor(rest)).numpy() == scores.argmax(1)).all()
    assert back.mu(head, votes).shape == (50, 3) and Guides.from_state({**g.state(), "prior_kind": "none"}).mu(
        head, votes) is None


def test_the_plain_probe_is_a_fourth_part_out_of_fold_and_kept_in_the_model_state():
    from lra.core.linear import linear_probe
    from lra.diffusion.guides import Guides

    x, y, noisy = _linear_data()
    rows = np.argsort(-(x @ x.T), axis=1)[:, 1:6] % 250
    g = fit_guides(x[:250], noisy[:250], rows[:250], 3, "mix", -1.0, "none", x[250:], rows[250:], noisy[250:],
                   seed=0, probe=True)
    head, votes, probe = g.train_parts(x[:250], rows[:250], 3)
    assert g.probe.kept.all()  # plain: no label left out
    folds = g.probe.fold  # each train item's row from the probe that never saw it
    held = folds == 0
    by_hand = linear_probe(x[:250][~held], noisy[:250][~held], x[:250][held], 3, seed=0)
    assert np.allclose(probe[held], by_hand, atol=1e-6)
    new = g.parts(x[250:], rows[250:], 3)  # new items: the linear_probe baseline itself
    assert len(new) == 3 and np.allclose(new[2], linear_probe(x[:250], noisy[:250], x[250:], 3, seed=0), atol=1e-6)
    assert np.array_equal(g.parts(x[:250], rows[:250], 3, np.arange(250))[2], probe)
    assert np.allclose(g.mu(*new), g.mu(*new[:2]))  # the prior never reads the probe
    g.readout_weights = np.array([0.25, 0.25, 0.25, 0.25])
    back = Guides.from_state(g.state())
    assert np.allclose(back.parts(x[250:], rows[250:], 3)[2], new[2])
    y0 = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    assert np.allclose(back.scores(y0, *new), combine([diffusion_scores(y0), *new], g.readout_weights))
    assert Guides.from_state(fit_guides(x[:250], noisy[:250], rows[:250], 3).state()).probe is None


def test_similarity_weights_favour_the_nearest_and_keep_the_plain_vote_for_the_prior():
    from lra.diffusion.guides import Guides
    from lra.diffusion.vote import similarity_weights

    sims = np.array([[0.9, 0.8, 0.7, 0.7], [0.5, 0.5, 0.5, 0.5]])
    w = similarity_weights(sims, 0.1)
    assert np.allclose(w[0], np.exp([0, -1, -2, -2])) and np.allclose(w[1], 1)  # equally near: equal weights
    x, y, noisy = _linear_data()
    rows = np.argsort(-(x @ x.T), axis=1)[:, 1:6] % 250
    nearest = np.sort(x @ x.T, axis=1)[:, ::-1][:, 1:6]  # any similarities, nearest first
    g = fit_guides(x[:250], noisy[:250], rows[:250], 3, "mix", -1.0, "none", x[250:], rows[250:], noisy[250:],
                   seed=0, probe=True, vote_temperature=0.1)
    head, plain, probe, weighted = g.parts(x[250:], rows[250:], 3, similarities=nearest[250:])
    assert np.allclose(weighted, vote(noisy[:250][rows[250:]], 3, similarity_weights(nearest[250:], 0.1)))
    assert not np.allclose(weighted, plain) and np.allclose(g.mu(head, plain, probe, weighted), g.mu(head, plain))
    assert all(a is b for a, b in zip(g.readout_parts((head, plain, probe, weighted)), (head, weighted, probe)))
    g.readout_weights = np.array([0.1, 0.2, 0.3, 0.4])
    y0 = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    back = Guides.from_state(g.state())
    assert back.vote_temperature == 0.1
    assert np.allclose(back.scores(y0, head, plain, probe, weighted),
                       combine([diffusion_scores(y0), head, weighted, probe], g.readout_weights))
    assert len(g.parts(x[250:], rows[250:], 3)) == 3  # without similarities: the prior's parts only
    try:
        g.readout_parts(g.parts(x[250:], rows[250:], 3))
        raise AssertionError("a read-out without the weighted vote must fail")
    except ValueError as e:
        assert "similarities" in str(e)
    old = {k: v for k, v in g.state().items() if k != "vote_temperature"}  # a model.pt from before the key
    assert Guides.from_state(old).vote_temperature == 0.0
