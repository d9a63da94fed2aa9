"""The label-issue gallery: the train items whose given label the model believes least.

Reads only what it shows: the first rows of `label_issues.parquet` (already least-believed
first), those items' manifest rows, and their images as small thumbnails; on an image dataset a
grid of thumbnails, on the embeddings kind (no images) a table.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ..core.errors import LraError
from ..core.files import read_head, read_table
from .figures import FONT, RIGHT, UNKNOWN, WRONG, new_figure

log = logging.getLogger("lra")

SIZE = 48  # items shown
COLUMNS = 8
THUMB = 96  # longest thumbnail side in pixels: 48 of them stay small whatever the source images
TILE_HEIGHT = 2.15  # inches: the image, its rank above and three caption lines below


def least_believed(issues, n: int = SIZE) -> pd.DataFrame:
    """The first `n` rows of a label-issue table, with their rank (1 = least believed)."""
    cols = ["id", "given_label", "predicted_label", "p_given"]
    t = read_head(issues, n, columns=cols, required=cols, what="the label-issue table")
    return t.to_pandas().assign(rank=np.arange(1, t.num_rows + 1))


def with_manifest(top: pd.DataFrame, manifest) -> pd.DataFrame:
    """`top` with each item's `source` and whether its given label is truly `wrong` (None where
    the true label is unknown), from the manifest rows of those ids only."""
    cols = ["id", "source", "clean_label"]
    rows = read_table(manifest, columns=cols, required=cols, what="the manifest",
                      filters=pc.field("id").isin(top["id"].astype(str).tolist())).to_pandas()
    out = top.merge(rows, on="id", how="left", validate="one_to_one")
    if out["source"].isna().any():
        missing = out.loc[out["source"].isna(), "id"].iloc[0]
        raise LraError(f"{manifest}: no row for label-issue item {missing!r}; rerun score for this manifest")
    clean = out["clean_label"].astype("Int64")
    out["wrong"] = [None if pd.isna(c) else bool(c != g) for c, g in zip(clean, out["given_label"])]
    return out.drop(columns="clean_label")


def thumbnails(sources) -> list:
    """Each source as an RGB array of at most THUMB pixels a side; None for one that cannot be
    read any more (the gallery shows the gap instead of failing the whole report)."""
    from ..data.images import open_image

    out = []
    for source in sources:
        try:
            im = open_image(str(source))
        except LraError as exc:
            log.warning("gallery: %s", exc)
            out.append(None)
            continue
        im.thumbnail((THUMB, THUMB))
        out.append(np.asarray(im))
    return out


def _name(classes: list[str], c: int, width: int = 12) -> str:
    name = str(classes[c]) if 0 <= c < len(classes) else str(c)
    return name if len(name) <= width else name[:width - 1] + "…"


def _verdict(wrong) -> tuple[str, str]:
    if wrong is None:
        return "", UNKNOWN
    return ("label wrong", WRONG) if wrong else ("label right", RIGHT)


def gallery(items: pd.DataFrame, images: list, classes: list[str]):
    """Thumbnails in rank order, each captioned given → predicted, p(given) and, when the true
    label is known, whether the given label really is wrong (also the frame's colour)."""
    n = len(items)
    rows = max(1, math.ceil(n / COLUMNS))
    height = rows * TILE_HEIGHT + 0.5
    # fixed margins, not constrained layout: every tile has the same size, and 48 axes would make
    # the layout solver draw the figure twice
    fig = new_figure(COLUMNS * 1.55, height, layout=None)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.6 / height, bottom=0.55 / height, wspace=0.1,
                        hspace=0.75 / 1.4)
    known = items["wrong"].notna().any()
    truth = "; frame red: given label truly wrong, green: truly right" if known else ""
    fig.suptitle(f"The {n} train labels the model believes least (least first): given → predicted, "
                 f"p(given label){truth}", fontsize=FONT)
    for i, (item, image) in enumerate(zip(items.itertuples(), images)):
        ax = fig.add_subplot(rows, COLUMNS, i + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if image is None:
            ax.text(0.5, 0.5, "image\nunreadable", ha="center", va="center", fontsize=FONT - 2, transform=ax.transAxes)
        else:
            small = max(image.shape[:2]) < 48
            ax.imshow(image, interpolation="nearest" if small else "antialiased")
        verdict, colour = _verdict(item.wrong)
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(3 if item.wrong is not None else 1)
        ax.set_title(f"#{item.rank}", fontsize=FONT - 2, pad=2)
        ax.set_xlabel(f"{_name(classes, item.given_label)} → {_name(classes, item.predicted_label)}\n"
                      f"p(given) {item.p_given:.2f}" + (f"\n{verdict}" if verdict else ""),
                      fontsize=FONT - 2.5, color=colour if verdict else "black", labelpad=2)
    return fig


def issue_table(items: pd.DataFrame, classes: list[str]):
    """The same items as a table (embeddings have no images): rank, id, given, predicted,
    p(given) and whether the given label is truly wrong."""
    cols = ["#", "id", "given", "predicted", "p(given)", "given label is"]
    cells, colours = [], []
    for item in items.itertuples():
        verdict, colour = _verdict(item.wrong)
        cells.append([str(item.rank), str(item.id)[:40], _name(classes, item.given_label, 24),
                      _name(classes, item.predicted_label, 24), f"{item.p_given:.2f}",
                      verdict.removeprefix("label ") or "unknown"])
        colours.append(["white"] * 5 + [colour + "40"])
    fig = new_figure(9, 0.25 * (len(cells) + 1) + 0.5)
    ax = fig.add_subplot()
    ax.set_axis_off()
    if cells:
        table = ax.table(cellText=cells, colLabels=cols, cellColours=colours, bbox=[0, 0, 1, 1], cellLoc="left",
                         colWidths=[0.06, 0.34, 0.18, 0.18, 0.1, 0.14])
        table.auto_set_font_size(False)
        table.set_fontsize(FONT - 1)
    ax.set_title(f"The {len(cells)} train labels the model believes least (least first)", fontsize=FONT + 1)
    return fig
