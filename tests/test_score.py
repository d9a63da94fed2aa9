import numpy as np
import pandas as pd
import torch

from lra.score import baselines, metrics
from lra.score.issues import label_issues
from lra.diffusion import draws
from lra.diffusion.model import Denoiser
from lra.diffusion.schedule import CosineSchedule
from lra.diffusion.sample import predict


def test_label_issues_rank_the_least_believed_given_labels_first():
    ids = np.array(["a", "b", "c", "d", "t"])
    train = np.array([True, True, True, True, False])
    observed = np.array([0, 1, 2, 1, 0])
    freq = np.array([[0.9, 0.1, 0], [0.8, 0.2, 0], [0, 0, 1.0], [0.1, 0.4, 0.5], [1, 0, 0]])
    pred = pd.DataFrame({"predicted": [0, 0, 2, 2, 0], "class_frequencies": list(freq)})
    issues = label_issues(ids, pred, observed, train)
    assert issues["id"].tolist() == ["b", "d", "a", "c"]
    assert issues["p_given"].tolist() == [0.2, 0.4, 0.9, 1.0]
    assert issues["flag"].tolist() == [True, True, False, False]
    assert issues["predicted_label"].tolist() == [0, 2, 0, 2]


def test_stochastic_predictions_count_one_vote_per_trajectory():
    torch.manual_seed(0)
    model = Denoiser(num_classes=4, feature_dim=6, F=16, T=100).eval()
    fp = torch.randn(7, 6)
    y0, votes = predict(model, CosineSchedule(100).to("cpu"), fp, steps=5, samples=9, seed=3)
    assert y0.shape == (7, 4) and votes.shape == (7, 4)
    assert (votes.sum(dim=1) == 9).all()
    again, _ = predict(model, CosineSchedule(100).to("cpu"), fp, steps=5)
    assert torch.equal(y0, again)  # the deterministic path does not depend on the draws


def test_an_items_trajectories_do_not_depend_on_its_batch_or_neighbours():
    torch.manual_seed(0)
    model = Denoiser(num_classes=5, feature_dim=6, F=16, T=100).eval()
    sch = CosineSchedule(100).to("cpu")
    fp = torch.randn(12, 6)
    keys = np.arange(100, 112, dtype=np.uint64)
    for eta in (0.0, 1.0):
        _, votes = predict(model, sch, fp, steps=5, samples=20, seed=1, keys=keys, eta=eta)
        order = np.array([11, 3, 7])
        _, part = predict(model, sch, fp[order], steps=5, samples=20, seed=1, keys=keys[order], batch_size=2, eta=eta)
        assert torch.equal(part, votes[order])
        _, other = predict(model, sch, fp, steps=5, samples=20, seed=2, keys=keys, eta=eta)
        assert not torch.equal(other, votes)  # another seed, other draws


def test_keyed_normals_are_standard_normal_and_stable():
    z = draws.normal(draws.item_keys([f"img{i}.png" for i in range(2000)]), seed=0, stream=0, per_item=50)
    assert z.shape == (2000, 50) and z.dtype == np.float32
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert draws.item_keys(["a.png"])[0] == draws.item_keys(["a.png"])[0] != draws.item_keys(["b.png"])[0]


def test_knn_vote_breaks_ties_by_the_nearest_neighbour():
    assert baselines.knn_vote(np.array([[2, 1, 1, 2], [0, 0, 3, 3]]), 4).tolist() == [2, 0]


def test_precision_recall_f1():
    out = metrics.precision_recall_f1(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    assert out["precision"] == 0.5 and out["recall"] == 0.5 and out["f1"] == 0.5


def test_top5_ranks_classes_as_predict_read_them_out():
    from lra.diffusion.stage import ranked_rows

    y0 = [[0.1, 0.9, 1.6], [1.05, 0.0, 0.5]]  # closest to 1: class 1 then 2; class 0 then 2
    pred = pd.DataFrame({"y0": [np.array(r) for r in y0]})
    assert ranked_rows(pred, [0, 1]).tolist() == [[1, 2, 0], [0, 2, 1]]
    pred["scores"] = [np.array([0.2, 0.1, 0.7]), np.array([0.3, 0.3, 0.4])]  # a mixed read-out: its scores rank
    assert ranked_rows(pred, [1, 0]).tolist() == [[2, 0, 1], [2, 0, 1]]
