"""The read-out rules of bench/readout_rules.py and bench/readout_round6.py that rounds 4 to 6
measured (and dropped): each must pick what its definition says on data where the answer is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import readout_round6  # noqa: E402
import readout_rules  # noqa: E402


def _one_hot(classes: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[classes]


def test_stacking_puts_the_weight_on_the_part_that_predicts_the_labels():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    right = 0.7 * _one_hot(labels, 4) + 0.075  # rows sum to 1, the label most likely
    wrong = _one_hot((labels + 1) % 4, 4)
    w = readout_rules.stacking_weights([wrong, right], labels)
    assert np.isclose(w.sum(), 1) and w[1] > 0.99
    half = right.copy()
    half[:200] = _one_hot((labels[:200] + 2) % 4, 4)  # right on half the items only
    w = readout_rules.stacking_weights([half, right], labels)
    assert w[1] > w[0]


def test_bagging_averages_the_choices_on_resamples_from_the_seed():
    calls = []

    def choose(items):
        calls.append(items)
        return np.array([items.mean() < 4.5, items.mean() >= 4.5], float)

    w = readout_rules.bagged(choose, 10, 50, seed=3)
    assert len(calls) == 50 and all(len(i) == 10 and i.max() < 10 for i in calls)
    assert np.isclose(w.sum(), 1) and 0 < w[0] < 1  # resamples differ, so the choices do
    assert (readout_rules.bagged(choose, 10, 50, seed=3) == w).all()


def test_noise_correction_ranks_by_clean_accuracy_under_a_known_pair_flip():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 20000)
    t = np.array([[0.6, 0.4, 0.0], [0.0, 0.6, 0.4], [0.4, 0.0, 0.6]])  # T[y, ỹ]: c → c+1 at 0.4
    observed = (y + (rng.random(len(y)) < 0.4)) % 3
    better = np.where(rng.random(len(y)) < 0.2, (y + 2) % 3, y)  # 80 % right, errs away from the flip
    worse = np.where(rng.random(len(y)) < 0.25, (y + 1) % 3, y)  # 75 % right, errs like the noise
    parts = [_one_hot(better, 3), _one_hot(worse, 3)]
    # noisy labels rank them the wrong way round (0.6·0.80 against 0.6·0.75 + 0.4·0.25) ...
    assert (worse == observed).mean() > (better == observed).mean() + 0.05
    assert (readout_rules.choose_weights(parts, observed, step=0.5) == [0, 1]).all()
    # ... the backward-corrected score (T̂⁻¹ as inverse_noise_matrix gives it) the right way
    w = readout_rules.noise_corrected_weights(parts, observed, np.linalg.pinv(t), step=0.5)
    assert (w == [1, 0]).all()


def test_two_stage_mixes_the_other_parts_on_train_and_val_then_the_diffusion_on_val():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 600)
    tr, va = np.arange(600) < 500, np.arange(600) >= 500
    noise = lambda c, rate: np.where(rng.random(len(c)) < rate, (c + 1) % 3, c)  # noqa: E731
    head, vote, probe = _one_hot(noise(y, 0.4), 3), _one_hot(noise(y, 0.05), 3), _one_hot(noise(y, 0.4), 3)
    diffusion = _one_hot(np.where(tr, y, noise(y, 0.5)), 3)  # fits the train labels, poor on val
    parts = [diffusion, head, vote, probe]
    w = readout_rules.two_stage_weights(parts, y, tr, va, seed=0)
    assert np.isclose(w.sum(), 1) and w[0] < 0.5  # ŷ_0 is perfect on train items, but judged on val only
    classes = readout_rules.combine(parts, w).argmax(axis=1)
    assert (classes[va] == vote[va].argmax(axis=1)).mean() > 0.95  # the read-out follows the vote


def test_the_guard_takes_a_part_alone_only_where_it_beats_the_mix_on_val(monkeypatch):
    y = np.repeat([0, 1, 2], 40)
    va = np.ones(len(y), bool)
    right = _one_hot(y, 3)
    wrong = _one_hot((y + 1) % 3, 3)
    equal = np.full(4, 0.25)
    monkeypatch.setattr(readout_rules, "default_weights", lambda *args: equal)  # the bagged mix, fixed
    w = readout_rules.guarded_weights([wrong, wrong, right, wrong], y, va, seed=0)
    assert (w == [0, 0, 1, 0]).all()  # three wrong parts that agree outvote the right one: take it alone
    halves = [np.where((np.arange(len(y)) < 60)[:, None], right, wrong), right * 0.1,
              np.where((np.arange(len(y)) >= 60)[:, None], right, wrong), right * 0.1]
    w = readout_rules.guarded_weights(halves, y, va, seed=0)  # the mix is right everywhere, no part alone beats it
    assert (w == equal).all()


def test_disagreements_show_noisy_labels_that_follow_one_part():
    clean = np.repeat([0, 1], 50)
    vote = _one_hot(clean, 2)  # always right
    probe = _one_hot(np.where(np.arange(100) % 10 == 0, 1 - clean, clean), 2)  # wrong on every 10th item
    observed = probe.argmax(axis=1)  # the flips are the probe's mistakes, as PMD's follow a linear model
    r = readout_rules.disagreements(probe, vote, observed, clean)
    assert np.isclose(r["disagree"], 0.1) and r["vote_clean"] == 1 and r["probe_clean"] == 0
    assert r["probe_observed"] == 1 and r["vote_observed"] == 0  # the observed labels rank them the wrong way
    assert r["flip_is_probe"] == 1 and r["flip_is_vote"] == 0


def test_flag_rules_switch_to_cleanlab_only_when_few_items_disagree():
    import flag_rules

    rng = np.random.default_rng(2)
    given = rng.integers(0, 3, 300)
    scores = _one_hot(given, 3) * 0.8 + 0.1
    scores[:30] = _one_hot((given[:30] + 1) % 3, 3) * 0.8 + 0.1  # the read-out disagrees on 10 %
    flags = flag_rules.flag_rules(scores, given)
    assert flags["argmax"].sum() == 30 and flags["argmax"][:30].all()
    assert (flags["switch0.2"] == flags["cl_on_ours"]).all()  # 10 % < 20 %: cleanlab's flags
    scores[:90] = _one_hot((given[:90] + 1) % 3, 3) * 0.8 + 0.1  # now 30 %
    flags = flag_rules.flag_rules(scores, given)
    assert (flags["switch0.2"] == flags["argmax"]).all() and (flags["switch0.4"] == flags["cl_on_ours"]).all()


def test_resample_choices_are_the_draws_whose_mean_the_bagged_choice_returns():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 40)
    parts = [_one_hot(np.where(rng.random(40) < q, labels, rng.integers(0, 3, 40)), 3) for q in (0.5, 0.7, 0.6)]
    choices = readout_round6.resample_choices(parts, labels, 20, seed=4)
    assert choices.shape == (20, 3) and np.allclose(choices.sum(axis=1), 1)
    assert np.allclose(choices.mean(axis=0), readout_rules.choose_weights(parts, labels, bootstrap=20, seed=4))


def test_mode_majority_and_trim_of_the_resamples_choices():
    choices = np.array([[0, 1.0], [0, 1.0], [0, 1.0], [1.0, 0]])
    assert (readout_round6.modal_weights(choices) == [0, 1]).all()
    first, second = _one_hot(np.array([0, 1, 2]), 3), _one_hot(np.array([1, 1, 1]), 3)
    assert (readout_round6.bagged_classes([first, second], choices) == [1, 1, 1]).all()  # 3 resamples to 1
    tied = np.array([[0, 1.0], [1.0, 0]])
    assert (readout_round6.bagged_classes([first, second], tied) == [0, 1, 1]).all()  # 1 to 1: the lower class
    assert np.allclose(readout_round6.trimmed(np.array([0.05, 0.15, 0.8]), below=0.1), [0, 0.15 / 0.95, 0.8 / 0.95])


def test_a_mix_replaces_the_best_part_only_when_it_is_clearly_better():
    labels = np.arange(40) % 2
    good = _one_hot(labels, 2) * 0.6 + 0.2  # right on every item
    weak = _one_hot(1 - labels, 2)  # wrong on every item
    w = readout_round6.vertex_or_mix([weak, good], labels, z=1.0, step=0.5)
    assert (w == [0, 1]).all()  # no mix beats the right part
    first = np.arange(40)[:, None] < 20
    soft_wrong = 0.4 * _one_hot(labels, 2) + 0.6 * _one_hot(1 - labels, 2)
    half = np.where(first, _one_hot(labels, 2), soft_wrong)  # sure and right on the first half, unsure and wrong after
    other = np.where(first, soft_wrong, _one_hot(labels, 2))  # the other way round
    assert (readout_round6.vertex_or_mix([half, other], labels, z=1.0, step=0.5) == [0.5, 0.5]).all()  # 40/40 vs 20/40
    assert (readout_round6.vertex_or_mix([half, other], labels, z=np.inf, step=0.5) == [1, 0]).all()  # a part alone


def test_calibration_keeps_the_order_and_sharpens_scores_that_are_right():
    labels = np.arange(30) % 3
    flat = 0.3 + 0.1 * _one_hot(labels, 3)  # right, but nearly flat
    va = np.ones(30, bool)
    q = readout_round6.calibrated(flat, va, labels, log=True)
    assert np.allclose(q.sum(axis=1), 1) and (q.argmax(axis=1) == labels).all()
    assert q[np.arange(30), labels].min() > 0.9  # the fitted scale makes a right part confident


def test_round7_votes_weigh_neighbours_by_similarity_and_plain_is_the_knn_vote():
    import readout_round7
    from lra.score.baselines import knn_vote

    sims = np.array([[0.9, 0.8, 0.5], [0.9, 0.9, 0.9]])
    rows = np.array([[0, 1, 2], [1, 2, 0]])
    labels = np.array([0, 1, 1])
    votes = readout_round7.neighbour_votes(sims, rows, labels, 2)
    assert set(votes) == {"plain", "sim0.05", "sim0.1", "sim0.2", "sim0.3", "simspread"}
    assert (votes["plain"].argmax(1) == knn_vote(labels[rows], 2)).all() and votes["plain"][0, 1] > 0.66
    assert np.allclose(votes["sim0.1"][0], np.array([1, np.exp(-1) + np.exp(-4)]) / (1 + np.exp(-1) + np.exp(-4)))
    assert votes["sim0.05"][0].argmax() == 0  # the nearest outweighs two far ones
    assert np.allclose(votes["sim0.05"][1], votes["plain"][1], atol=1e-3)  # equally near: counted alike
    assert np.allclose(votes["simspread"][0], votes["sim0.2"][0])  # τ = median(0.4, 0.0) = 0.2


def test_round7_rules_read_out_each_vote_with_the_defaults_rule():
    import readout_round7

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 120)
    va = np.arange(120) < 60
    noise = {c: rng.random((120, 3)) for c in "dhp"}
    votes = {"right": _one_hot(labels, 3), "wrong": _one_hot((labels + 1) % 3, 3)}
    out = readout_round7.rules(noise, votes, labels, va, 0, readout_rules.default_weights)
    assert set(out) == {"dhvp_right_bag100", "dhvp_wrong_bag100"}
    assert (out["dhvp_right_bag100"]() == labels).all()  # val picks the vote that is right, test follows
    assert (out["dhvp_wrong_bag100"]() == labels).mean() < 0.6
