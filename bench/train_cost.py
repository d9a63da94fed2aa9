"""Train CPU of ablate variants on the embedded default run's cell (digits, sym-0.4, seed 0),
interleaved in one process, one torch thread: the issue's cost target is a ratio to `paper`.

    python bench/train_cost.py --reps 2 paper guided default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ablate import VARIANTS, run_one  # noqa: E402
from groups import arrays  # noqa: E402

from lra.diffusion.config import PRESETS  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variants", nargs="+", choices=sorted(VARIANTS))
    p.add_argument("--reps", type=int, default=1)
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    x, y, split, m = arrays("digits", 0, REPO / "bench" / "out" / "accuracy" / "data")
    for rep in range(args.reps):
        for v in args.variants:
            base, over = VARIANTS[v]
            r = run_one(x, y, split, m, "sym-0.4", 0, {**PRESETS[base], **over})
            print(f"{rep}\t{v}\ttrain_cpu_s {r['train_cpu_s']:.2f}\ttest accuracy {r['acc']:.4f}", flush=True)


if __name__ == "__main__":
    main()
