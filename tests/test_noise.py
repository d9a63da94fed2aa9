import numpy as np
import pandas as pd
import pytest

from lra import noise
from lra.errors import LraError


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


@pytest.mark.parametrize("spec", ["sym", "sym-1.5", "uniform-0.2", "asym-"])
def test_bad_specs_are_rejected_with_the_accepted_forms(spec):
    with pytest.raises(LraError, match="sym-<rate>"):
        noise.parse(spec)
