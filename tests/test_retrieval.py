import numpy as np

from lra import retrieval


def _unit(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_neighbours_equal_brute_force_and_exclude_self():
    x = _unit(500, 16)
    index = retrieval.build_index(x, "Flat")
    sims, rows = retrieval.neighbors(index, x, 7, self_rows=np.arange(500))
    ref_sims, ref_rows = retrieval.brute_force_neighbors(x, x, 7, self_rows=np.arange(500))
    assert (rows == ref_rows).mean() > 0.999  # float ties may swap order
    np.testing.assert_allclose(sims, ref_sims, atol=1e-5)
    assert not (rows == np.arange(500)[:, None]).any()


def test_exact_duplicates_never_list_the_item_itself():
    x = _unit(50, 8)
    x = np.concatenate([x, x])  # every item has a twin at similarity 1
    index = retrieval.build_index(x, "Flat")
    _, rows = retrieval.neighbors(index, x, 3, self_rows=np.arange(100))
    assert not (rows == np.arange(100)[:, None]).any()
    twin = (np.arange(100) + 50) % 100
    assert (rows == twin[:, None]).any(axis=1).all()


def test_queries_outside_the_index_keep_all_k():
    x = _unit(200, 8)
    q = _unit(20, 8, seed=1)
    index = retrieval.build_index(x, "Flat")
    _, rows = retrieval.neighbors(index, q, 5, self_rows=np.full(20, -1))
    _, ref = retrieval.brute_force_neighbors(x, q, 5)
    assert (rows == ref).all()


def test_auto_index_is_exact_for_small_n_and_ivf_for_large():
    assert retrieval.factory_string("auto", 10_000) == "Flat"
    assert retrieval.factory_string("auto", 1_000_000).startswith("IVF")
    assert retrieval.factory_string("HNSW32", 10) == "HNSW32"
