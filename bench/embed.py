"""Images/s of the embed stage vs the bare model forward on the same batches, in one run.

The stage (`lra.stages.embed`: manifest → JPEG decode → the model's preprocessing in DataLoader
workers → forward → chunk files → part file) is timed end to end except the model build, which
is timed separately and printed; the bare forward runs the same model on the same batches,
preprocessed beforehand. A random-weight open_clip model on CPU: no download.

    PYTHONPATH=. python bench/embed.py [--model ViT-B-32] [--images 192] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ViT-B-32", help="open_clip architecture (random weights)")
    p.add_argument("--images", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--chunk-rows", type=int, default=64)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (a lent GPU: cuda, with fp16 autocast)")
    args = p.parse_args()

    import torch

    from lra import stages
    from lra.data.stage import load_manifest
    from lra.embed import encoders
    from lra.embed.clip import OpenClipEncoder

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        rows = []
        for i in range(args.images):  # photo-sized JPEGs, so decoding and resizing cost what they cost
            a = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
            Image.fromarray(a).save(root / f"{i}.jpg", quality=90)
            rows.append({"path": f"{i}.jpg", "label": i % 10, "split": "test" if i % 7 == 0 else "train"})
        pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
        stages.data({"kind": "folder", "csv": str(root / "data.csv")}, root / "manifest.parquet")
        m = load_manifest(root / "manifest.parquet")

        t = time.perf_counter()
        enc = OpenClipEncoder.from_spec(f"{args.model}:none", batch_size=args.batch_size,
                                        num_workers=args.num_workers, device=args.device)
        build_s = time.perf_counter() - t

        # bare forward: the same batches, decoded and preprocessed beforehand (not timed)
        batches = [images for images, _, _ in enc.loader(m.frame)]
        enc.forward(batches[0])  # warm-up, for both
        t = time.perf_counter()
        for images in batches:
            enc.forward(images)
        bare_s = time.perf_counter() - t

        original = encoders.get
        encoders.get = lambda spec, **options: enc  # the stage reuses the built model
        try:
            t = time.perf_counter()
            stages.embed(root / "manifest.parquet", f"open_clip:{args.model}:none", root / "f" / "part-00000.parquet",
                         chunk_rows=args.chunk_rows)
            stage_s = time.perf_counter() - t
        finally:
            encoders.get = original

    n = args.images
    print(f"model {args.model} (random weights), device {enc.device}, torch threads {torch.get_num_threads()}, "
          f"{n} images 500x375 JPEG, batch {args.batch_size}, workers {args.num_workers}, chunk {args.chunk_rows}")
    print(f"model build (not in either figure): {build_s:.2f} s")
    print(f"bare forward:  {n / bare_s:8.2f} img/s  ({bare_s:.2f} s)")
    print(f"embed stage:   {n / stage_s:8.2f} img/s  ({stage_s:.2f} s)")
    print(f"ratio stage/bare: {bare_s / stage_s:.3f}")


if __name__ == "__main__":
    main()
