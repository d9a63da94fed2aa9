"""SimCLR's views: random augmentations of one image (arXiv 2002.05709, §3 and appendix A).

A view is a chain of named operations on a float (3, S, S) image in [0, 1]. Every random draw
comes from a `torch.Generator` seeded by (seed, epoch, item), never from a process's global RNG,
so an item's views are the same whichever DataLoader worker makes them, however many workers
there are, and after a resume.

Operations:
- `crop`: random resized crop back to S×S, area 8-100 % of the image, aspect 3/4-4/3 (the paper's);
- `flip`: horizontal flip with probability 1/2;
- `colour`: with probability 0.8, brightness, contrast and saturation ×U(0.6, 1.4) and hue ±0.1,
  in random order (the paper's colour distortion at strength 0.5, its CIFAR setting);
- `grey`: grey-scale with probability 0.2;
- `affine`: rotation ±10°, scale 0.85-1.1, shift ±10 %, shear ±8°, filled with the border's colour;
- `stroke`: stroke-width jitter, with probability 1/3 each a 3×3 dilation or erosion
  (thicker or thinner strokes, whichever of ink and paper is the brighter);
- `contrast`: brightness and contrast ×U(0.6, 1.4) with probability 0.8 (ink intensity).

Sets (config `pretrain.augment`, a set name or a list of operations; lra.embed.config.SETS):
- `paper`: crop, flip, colour, grey — the paper's CIFAR augmentations (no blur at 32×32, as there).
- `shapes`: affine, stroke, contrast — for glyphs, digits, symbols: no flip (a mirrored letter is
  another letter or none), no crop that can cut a glyph in two, no colour (there is none).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F_
from torchvision.transforms.v2 import functional as TF  # imported before DataLoader workers fork: ~2 s each otherwise


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def crop(x, g, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Random resized crop (the torchvision rule: 10 tries, else the centre at the nearest ratio)."""
    _, h, w = x.shape
    for _ in range(10):
        area = h * w * _u(g, *scale)
        aspect = math.exp(_u(g, math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (), generator=g))
            left = int(torch.randint(0, w - cw + 1, (), generator=g))
            return TF.resized_crop(x, top, left, ch, cw, [h, w], antialias=True)
    side = min(h, w)
    return TF.resized_crop(x, (h - side) // 2, (w - side) // 2, side, side, [h, w], antialias=True)


def flip(x, g):
    return x.flip(-1) if _u(g) < 0.5 else x


def colour(x, g, strength=0.5):
    if _u(g) >= 0.8:
        return x
    s = 0.8 * strength
    ops = [lambda v: TF.adjust_brightness(v, _u(g, 1 - s, 1 + s)),
           lambda v: TF.adjust_contrast(v, _u(g, 1 - s, 1 + s)),
           lambda v: TF.adjust_saturation(v, _u(g, 1 - s, 1 + s)),
           lambda v: TF.adjust_hue(v, _u(g, -0.2 * strength, 0.2 * strength))]
    for i in torch.randperm(4, generator=g).tolist():
        x = ops[i](x)
    return x.clamp(0, 1)


def grey(x, g):
    return TF.rgb_to_grayscale(x, num_output_channels=3) if _u(g) < 0.2 else x


def affine(x, g):
    _, h, w = x.shape
    border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], dim=1)
    fill = border.median(dim=1).values.tolist()  # the background, light or dark
    return TF.affine(x, angle=_u(g, -10, 10), translate=[round(_u(g, -0.1, 0.1) * w), round(_u(g, -0.1, 0.1) * h)],
                     scale=_u(g, 0.85, 1.1), shear=[_u(g, -8, 8), 0.0],
                     interpolation=TF.InterpolationMode.BILINEAR, fill=fill)


def stroke(x, g):
    r = _u(g)
    if r < 1 / 3:
        return F_.max_pool2d(x[None], 3, 1, 1)[0]  # dilate: bright strokes thicken
    if r < 2 / 3:
        return -F_.max_pool2d(-x[None], 3, 1, 1)[0]  # erode: bright strokes thin
    return x


def contrast(x, g):
    if _u(g) >= 0.8:
        return x
    return TF.adjust_contrast(TF.adjust_brightness(x, _u(g, 0.6, 1.4)), _u(g, 0.6, 1.4)).clamp(0, 1)


OPS = {"crop": crop, "flip": flip, "colour": colour, "grey": grey, "affine": affine, "stroke": stroke,
       "contrast": contrast}


def view(x: torch.Tensor, names: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    """One augmented view of the float (3, S, S) image `x`."""
    for name in names:
        x = OPS[name](x, g)
    return x


def item_generator(seed: int, epoch: int, item: int) -> torch.Generator:
    """The generator of item `item`'s views in `epoch`: independent streams per (seed, epoch, item)."""
    state = np.random.SeedSequence([seed, epoch, item]).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
