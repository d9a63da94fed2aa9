import numpy as np
import pandas as pd
import pytest

from lra.data import noise
from lra.core.errors import LraError


def test_symmetric_noise_hits_its_rate_and_never_keeps_the_class():
    y = np.repeat(np.arange(10), 500)
    out = noise.symmetric(y, 0.4, 10, np.random.default_rng(0))
    flipped = out != y
    assert abs(flipped.mean() - 0.4) < 1e-3
    # flips spread uniformly over the other classes
    counts = np.bincount((out[flipped] - y[flipped]) % 10, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 0.7 * counts[1:].mean()


def test_asymmetric_noise_flips_along_the_class_map_at_its_rate():
    y = np.repeat(np.arange(4), 250)
    out = noise.asymmetric(y, 0.3, noise.pair_map(4), np.random.default_rng(0))
    assert abs((out != y).mean() - 0.3) < 1e-3
    assert ((out[out != y] - y[out != y]) % 4 == 1).all()
    partial = noise.asymmetric(y, 0.5, {0: 1}, np.random.default_rng(0))
    assert (partial[y != 0] == y[y != 0]).all()
    assert abs((partial[y == 0] == 1).mean() - 0.5) < 1e-3


def test_class_map_from_names():
    assert noise.class_map_from_config({"cat": "dog", "dog": "cat"}, ["cat", "dog", "car"]) == {0: 1, 1: 0}
    with pytest.raises(LraError, match="unknown class 'cow'"):
        noise.class_map_from_config({"cow": "dog"}, ["cat", "dog"])


def test_observed_labels_keep_test_rows_true_and_given_is_the_label():
    frame = pd.DataFrame({
        "split": ["train"] * 800 + ["test"] * 200,
        "label": np.zeros(1000, dtype=np.int64),
        "clean_label": pd.array(np.arange(1000) % 5, dtype="Int64"),
    })
    out = noise.observed_labels(frame, list("abcde"), "sym-0.5", seed=0)
    clean = frame["clean_label"].to_numpy(dtype=int)
    assert (out[800:] == clean[800:]).all()
    assert abs((out[:800] != clean[:800]).mean() - 0.5) < 1e-3
    assert (noise.observed_labels(frame, list("abcde"), "given", 0) == 0).all()


@pytest.mark.parametrize("spec", ["sym", "sym-1.5", "uniform-0.2", "asym-", "pmd4-0.3", "file-"])
def test_bad_specs_are_rejected_with_the_accepted_forms(spec):
    with pytest.raises(LraError, match="sym-<rate>"):
        noise.parse(spec)


def _pmd_setup():
    from .conftest import clustered

    x, y = clustered(300, 4, 8, spread=1.2, seed=4)
    proba = noise.clean_probabilities(x, y, 4, seed=0)
    return x, y, proba


@pytest.mark.parametrize("kind", ["pmd1", "pmd2", "pmd3"])
def test_pmd_hits_its_rate_and_flips_to_the_runner_up(kind):
    _, y, proba = _pmd_setup()
    out = noise.pmd(y, proba, 0.35, kind, np.random.default_rng(0))
    flipped = out != y
    assert abs(flipped.mean() - 0.35) < 1e-3
    masked = proba.copy()
    masked[np.arange(len(y)), y] = -np.inf
    assert (out[flipped] == masked.argmax(axis=1)[flipped]).all()


def test_pmd_flips_small_margins_more_often_than_large_ones():
    _, y, proba = _pmd_setup()
    sorted_p = np.sort(proba, axis=1)
    margin = proba[np.arange(len(y)), y] - np.where(proba.argmax(1) == y, sorted_p[:, -2], sorted_p[:, -1])
    flips = np.mean([noise.pmd(y, proba, 0.3, "pmd1", np.random.default_rng(s)) != y for s in range(5)], axis=0)
    small, large = np.abs(margin) < np.quantile(np.abs(margin), 0.25), np.abs(margin) > np.quantile(np.abs(margin), 0.75)
    assert flips[small].mean() > 1.5 * flips[large].mean()


def test_pmd_through_observed_labels_needs_features_and_keeps_test_true():
    x, y, _ = _pmd_setup()
    frame = pd.DataFrame({"split": np.where(np.arange(len(y)) % 5 == 0, "test", "train"),
                          "label": y, "clean_label": pd.array(y, dtype="Int64")})
    out = noise.observed_labels(frame, list("abcd"), "pmd-0.4", 0, x=x)
    test = frame["split"].to_numpy() == "test"
    assert (out[test] == y[test]).all()
    assert abs((out[~test] != y[~test]).mean() - 0.4) < 2e-3
    with pytest.raises(LraError, match="needs the features"):
        noise.observed_labels(frame, list("abcd"), "pmd-0.4", 0)
    assert noise.needs_features("pmd3-0.2") and not noise.needs_features("sym-0.2")


def test_published_noise_file_maps_onto_the_train_rows(tmp_path):
    frame = pd.DataFrame({"split": ["train"] * 6 + ["val"] * 2 + ["test"] * 2,
                          "label": np.arange(10) % 3, "clean_label": pd.array(np.arange(10) % 3, dtype="Int64")})
    np.save(tmp_path / "n.npy", np.array([2, 2, 2, 0, 0, 0], dtype=np.int64))
    out = noise.observed_labels(frame, list("abc"), "file-plc", 0, noise_files={"plc": str(tmp_path / "n.npy")})
    assert out.tolist() == [2, 2, 2, 0, 0, 0, 0, 1, 2, 0]
    np.save(tmp_path / "bad.npy", np.zeros(7, dtype=np.int64))
    with pytest.raises(LraError, match="7 labels, but the manifest has 6 train"):
        noise.observed_labels(frame, list("abc"), "file-x", 0, noise_files={"x": str(tmp_path / "bad.npy")})
    with pytest.raises(LraError, match="no entry 'y'"):
        noise.observed_labels(frame, list("abc"), "file-y", 0, noise_files={})
