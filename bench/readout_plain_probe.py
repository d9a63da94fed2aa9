"""The plain linear probe (logistic regression on the observed labels, the `linear_probe` baseline)
as a 4th part of the combined read-out, both read-outs bagged (100 resamples of val), on the arrays
`bench/ablate.py --variant guided` keeps: a lead for the next round, not in the default (the train
items would need out-of-fold plain-probe rows, and predict and infer the fitted probe).

    python bench/readout_plain_probe.py     # → per-run lines, the per-cell table, the summary
"""
import glob
import sys
from pathlib import Path
import numpy as np, pandas as pd
REPO = Path(__file__).resolve().parents[1]; sys.path.insert(0, str(REPO)); sys.path.insert(0, str(REPO / "bench"))
from groups import arrays
from lra.core.linear import linear_probe
from lra.diffusion.readout import choose_weights, combine, diffusion_scores
rows = []
cache = {}
for f in sorted(glob.glob(str(REPO / "bench/out/ablate/arrays/guided/*.npz"))):
    a = np.load(f); ds, seed, noise = Path(f).stem.split("-", 2); seed = int(seed)
    if (ds, seed) not in cache:
        cache = {(ds, seed): arrays(ds, seed, REPO / "bench/out/accuracy/data")[0]}
    x = cache[(ds, seed)]
    sp = a["split"]; tr, va, te = sp == "train", sp == "val", sp == "test"; obs = a["observed"].astype(int); y = a["y"]
    C = a["head"].shape[1]
    plain = np.zeros_like(a["head"], dtype=np.float64)
    plain[va | te] = linear_probe(x[tr], obs[tr], x[va | te], C, seed)
    parts3 = [diffusion_scores(a["y0"]), a["head"], a["votes"]]; parts4 = parts3 + [plain]
    acc = lambda ps, w: float((combine([p[te] for p in ps], w).argmax(1) == y[te]).mean())
    r = {"dataset": ds, "seed": seed, "noise": noise}
    r["dhv_bag"] = acc(parts3, choose_weights([p[va] for p in parts3], obs[va], 0.25, bootstrap=100, seed=seed))
    r["dhvp_bag"] = acc(parts4, choose_weights([p[va] for p in parts4], obs[va], 0.25, bootstrap=100, seed=seed))
    rows.append(r); print(r, flush=True)
r = pd.DataFrame(rows)
b = pd.read_csv(REPO / "bench/out/ablate/baselines.tsv", sep="\t").drop(columns="variant")
j = r.merge(b, on=["dataset", "seed", "noise"])
j["best"] = j[["knn_vote", "linear_probe", "cleanlab", "datalab_relabel"]].max(axis=1)
g = 100 * j.groupby(["dataset", "noise"])[["dhv_bag", "dhvp_bag", "best"]].mean()
print(g.round(2).to_string())
for c in ["dhv_bag", "dhvp_bag"]:
    d = g[c] - g["best"]; ps = 100 * (j[c] - j["dhv_bag"]).groupby(j["seed"]).mean()
    print(c, f"mean {g[c].mean():.2f} cells {(d >= -0.5).sum()}/{len(d)} worst {d.min():+.2f} vs dhv_bag per-seed {ps.round(2).tolist()}")
