"""Clean-label kNN vote on pixels vs on SimCLR features, and the CPU cost of SimCLR, in one run.

SimCLR (lra.embed.simclr) trains on the train split's images (no labels); after the epochs named
by --probe (and the last) the train and test images are encoded with the encoder as it is then
(un-augmented, eval mode), and the k=10 vote of the clean labels is scored two ways: leave-one-out
over the train split (each train image voted by its 10 nearest other train images) and train→test.
Pixels (lra.embed.encoders.PixelsEncoder at the sizes given) are scored the same way.

    PYTHONPATH=. nice -n 10 python bench/simclr.py --dataset glyphs --epochs 15 --threads 2

Datasets: glyphs (bench/groups.py glyph_images: 2,288 rendered capitals, 32×32; --variants 6
renders 3,432), digits (scikit-learn's 1,797 8×8 digits). The split is bench/groups.py's for
--seed (10 % val, 20 % test).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=("glyphs", "digits"), default="glyphs")
    p.add_argument("--variants", type=int, default=4, help="glyphs: random variants per letter and font")
    p.add_argument("--seed", type=int, default=0, help="the split's seed (and SimCLR's)")
    p.add_argument("--params", default="{}", help="SimCLR config as JSON (lra.embed.config.SimCLRConfig)")
    p.add_argument("--epochs", type=int, default=None, help="shorthand for params.epochs")
    p.add_argument("--probe", default="", help="comma-separated epochs to score besides the last")
    p.add_argument("--pixels", default="8,12,32", help="pixel sizes to score")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--root", default="/tmp/lra-bench-simclr")
    p.add_argument("--out", default=None, help="append a JSON line of the results here")
    args = p.parse_args()

    from lra.core import threads

    threads.apply(args.threads, ("torch",))
    import numpy as np
    import torch

    from lra.data import datasets
    from lra.data.images import open_image
    from lra.embed import simclr
    from lra.embed.config import SimCLRConfig
    from lra.embed.encoders import PixelsEncoder
    from lra.score.baselines import knn_vote

    root = Path(args.root)
    if args.dataset == "glyphs":
        from bench.groups import LETTERS, VAL_FRACTION, _split, glyph_images

        frame = glyph_images(root / f"glyphs-v{args.variants}", variants=args.variants)
        csv = root / f"glyphs-v{args.variants}" / f"seed{args.seed}.csv"
        frame.assign(split=_split(frame["label"].to_numpy(), args.seed)).to_csv(csv, index=False)
        spec = {"kind": "folder", "csv": str(csv), "name": "glyphs", "classes": LETTERS, "val_fraction": VAL_FRACTION}
    else:
        spec = {"kind": "bundled", "val_fraction": 0.1, "test_fraction": 0.2}
    m = datasets.build(spec, args.seed)
    f = m.frame
    y = f["clean_label"].astype(int).to_numpy()
    train, test = (f["split"] == "train").to_numpy(), (f["split"] == "test").to_numpy()
    C = len(m.classes)

    def knn(x: np.ndarray, k: int = 10) -> dict:
        xt = torch.as_tensor(x[train])
        sims = xt @ xt.T
        sims.fill_diagonal_(-float("inf"))  # leave one out
        loo = knn_vote(y[train][sims.topk(k, dim=1).indices.numpy()], C)
        tt = knn_vote(y[train][(torch.as_tensor(x[test]) @ xt.T).topk(k, dim=1).indices.numpy()], C)
        return {"loo": round(float((loo == y[train]).mean()), 4), "test": round(float((tt == y[test]).mean()), 4)}

    result = {"dataset": args.dataset, "images": len(f), "train": int(train.sum()), "threads": args.threads,
              "load_before": os.getloadavg()}
    for size in (int(s) for s in args.pixels.split(",") if s):
        enc = PixelsEncoder(size)
        enc.fit(f)
        result[f"pixels:{size}"] = knn(enc.encode(f))
    print(json.dumps(result), flush=True)

    params = json.loads(args.params)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    cfg = SimCLRConfig.from_dict(params)
    probes = {int(e) for e in args.probe.split(",") if e} | {cfg.epochs}
    images = torch.stack([simclr.Resize(cfg.image_size)(open_image(s)) for s in f["source"]])
    scores, times = {}, []
    clock = {"wall": time.monotonic(), "cpu": _cpu()}

    def on_epoch(epoch, model, mean, std):
        now, cpu = time.monotonic(), _cpu()
        times.append({"epoch": epoch, "wall_s": round(now - clock["wall"], 1), "cpu_s": round(cpu - clock["cpu"], 1)})
        if epoch in probes:
            x = (images - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
            model.eval()
            with torch.inference_mode():
                h = torch.cat([model.encoder(b) for b in x.split(512)])
            scores[epoch] = knn(torch.nn.functional.normalize(h, dim=1).numpy())
            print(f"epoch {epoch}: kNN {scores[epoch]}", flush=True)
        clock["wall"], clock["cpu"] = time.monotonic(), _cpu()  # probing is not training time

    began = time.monotonic()
    _, _, _, history = simclr.train(f[train], cfg, log=print, on_epoch=on_epoch)
    result.update({"params": cfg.plain(), "simclr": scores, "epoch_times": times,
                   "train_wall_s": round(sum(t["wall_s"] for t in times), 1),
                   "train_cpu_s": round(sum(t["cpu_s"] for t in times), 1),
                   "run_wall_s": round(time.monotonic() - began, 1),
                   "losses": [round(r["loss"], 4) for r in history], "load_after": os.getloadavg()})
    print(json.dumps(result), flush=True)
    if args.out:
        with open(args.out, "a") as out:
            out.write(json.dumps(result) + "\n")


def _cpu() -> float:
    """CPU seconds of this process and its DataLoader workers (RUSAGE_CHILDREN: those reaped,
    i.e. the workers of finished epochs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
