"""bench/accuracy.py's statistics: per-cell paired differences with t-intervals over seeds, the
overall mean with its interval over seeds, and the target checks."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import accuracy  # noqa: E402
import groups as bench_datasets  # noqa: E402


def _raw(diff_by_seed):
    rows = []
    for seed, d in enumerate(diff_by_seed):
        for method, acc in (("paper", 0.80), ("default", 0.80 + d)):
            rows.append({"dataset": "toy", "noise": "sym-0.4", "seed": seed, "method": method, "lra": acc,
                         "issues_f1": 0.9, "cleanlab_issues_f1": 0.8, "knn_vote": 0.78, "linear_probe": 0.7,
                         "cleanlab": 0.75, "datalab_relabel": 0.74, "clean_knn_vote": 0.85, "clean_linear_probe": 0.83})
    return pd.DataFrame(rows)


def test_paired_difference_and_its_t_interval_over_seeds():
    raw = _raw([0.01, 0.03, 0.05])
    c = accuracy.cells(raw).iloc[0]
    assert c["n_seeds"] == 3 and np.isclose(c["diff"], 3.0)
    half = 4.302653 * 2.0 / np.sqrt(3)  # t(0.975, 2) · sd / sqrt(n), sd of (1, 3, 5) = 2
    assert np.isclose(c["diff_lo"], 3.0 - half, atol=1e-4) and np.isclose(c["diff_hi"], 3.0 + half, atol=1e-4)
    mean, lo, hi = accuracy.overall(raw)
    assert np.isclose(mean, 3.0) and lo < 3.0 < hi


def test_targets_report_met_and_missed_with_the_margin():
    raw = _raw([0.01, 0.03, 0.05])
    lines = accuracy.targets(accuracy.cells(raw), accuracy.overall(raw))
    assert lines[0].startswith("- within 2.0 points") and ": met" in lines[0] and "largest gap 2.00" in lines[0]  # 2.0 is within
    assert "missed" in lines[1]  # CI of (1, 3, 5) reaches below 0
    assert "met" in lines[3] and "met" in lines[4]


def test_set_puts_yaml_values_under_their_section():
    cfg = accuracy.settings({"train": {"epochs": 3}, "seed": 0}, ["train.select_on=clean", "predict.samples=2"])
    assert cfg == {"train": {"epochs": 3, "select_on": "clean"}, "predict": {"samples": 2}, "seed": 0}
    with pytest.raises(SystemExit, match="SECTION.KEY=VALUE"):
        accuracy.settings({}, ["select_on=clean"])


def test_the_groups_are_fixed_and_disjoint():
    groups = bench_datasets.GROUPS
    assert groups == {"dev": ("digits", "synthetic", "glyphs", "longtail", "emoji", "words", "textures", "satellite",
                              "fashion", "dna", "sprites", "letters", "scripts", "vowels", "icons", "vehicles",
                              "clipart", "appliances"),
                      "heldout": ("cards", "manpages")}
    x, y = bench_datasets.longtail_features()
    counts = np.bincount(y)
    assert len(counts) == 20 and 9 <= counts.max() / counts.min() <= 11  # imbalance 10


def test_texture_patches_come_from_their_picture(tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    for i, name in enumerate(bench_datasets.TEXTURE_PICTURES):  # each picture one flat grey level
        Image.new("RGB", (80, 70), (10 * i, 10 * i, 10 * i)).save(data / name)
    frame = bench_datasets.texture_images(tmp_path / "out", per_class=3, data=data)
    assert len(frame) == 3 * len(bench_datasets.TEXTURES)
    assert frame.groupby("label").size().to_dict() == {t: 3 for t in bench_datasets.TEXTURES}
    for i, row in enumerate(frame.itertuples()):
        patch = np.asarray(Image.open(tmp_path / "out" / row.path))
        assert patch.shape == (32, 32) and (patch == 10 * bench_datasets.TEXTURES.index(row.label)).all()


def test_the_subset_keeps_each_class_share():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    keep = bench_datasets.stratified_subset(y, 100, seed=0)
    assert len(set(keep)) == 100 and np.bincount(y[keep]).tolist() == [50, 30, 20]
    assert not (np.diff(keep) > 0).all()  # shuffled, not in class order
    assert (bench_datasets.stratified_subset(y, 100, seed=0) == keep).all()


def test_fashion_pictures_come_from_their_class_file(tmp_path):
    from PIL import Image

    clothes = tmp_path / "package" / "src" / "clothes"
    clothes.mkdir(parents=True)
    for c in range(len(bench_datasets.FASHION)):  # class c: 5 pictures, picture i all grey 10·c + i
        (clothes / f"{c}.json").write_text(json.dumps({"data": [[10 * c + i] * 784 for i in range(5)]}))
    frame = bench_datasets.fashion_images(tmp_path / "out", per_class=3, package=tmp_path / "package")
    assert frame.groupby("label").size().to_dict() == {name: 3 for name in bench_datasets.FASHION}
    for row in frame.itertuples():
        picture = np.asarray(Image.open(tmp_path / "out" / row.path))
        c, i = bench_datasets.FASHION.index(row.label), int(row.path.rsplit("-", 1)[1][:4])
        assert picture.shape == (28, 28) and (picture == 10 * c + i).all()
    again = bench_datasets.fashion_images(tmp_path / "out", package=tmp_path / "nowhere")  # the listing, no JSON
    pd.testing.assert_frame_equal(again, frame)


def test_sprites_are_unit_frames_of_their_people_on_white(tmp_path):
    from PIL import Image

    units = tmp_path / "units"
    for p, (people, folders) in enumerate(bench_datasets.SPRITE_PEOPLES.items()):
        for f, sub in enumerate(folders):  # every frame of people p: a 40×30 block of red 10·p + f on transparency
            (units / sub / "unit").mkdir(parents=True)
            for i in range(3):
                frame = Image.new("RGBA", (72, 60), (0, 0, 0, 0))
                frame.paste((10 * p + f, 0, 0, 255), (16, 15, 56, 45))
                frame.save(units / sub / "unit" / f"frame-{i}.png")
        flame = Image.new("RGBA", (72, 72), (0, 0, 0, 0))
        flame.paste((0, 255, 0, 255), (30, 30, 38, 40))  # an 8×10 effect overlay: not a unit
        flame.save(units / folders[0] / "unit" / "flame.png")
    frame = bench_datasets.sprite_images(tmp_path / "out", per_class=3, size=36, units=units)
    assert frame.groupby("label").size().to_dict() == {people: 3 for people in bench_datasets.SPRITES}
    for row in frame.itertuples():
        picture = np.asarray(Image.open(tmp_path / "out" / row.path))
        p = bench_datasets.SPRITES.index(row.label)
        assert picture.shape == (36, 36, 3) and (picture[0, 0] == 255).all()  # white corner, square
        reds = set(picture[18, 11:25, 0].tolist())  # the middle row, inside the block
        assert reds <= {10 * p + f for f in range(len(bench_datasets.SPRITE_PEOPLES[row.label]))}
        assert picture[18, 18, 1] == 0  # never the green overlay
    _listing_kept_else_install_named(bench_datasets.sprite_images, frame, tmp_path, "apt-get install wesnoth-1.16-data",
                                     units=tmp_path / "nowhere")


def _listing_kept_else_install_named(build, frame, tmp_path, install: str, **missing):
    """A second build into tmp_path/out reads its listing (the source data, `missing`, is not
    needed); a build into a new folder without the data exits naming the install command."""
    pd.testing.assert_frame_equal(build(tmp_path / "out", **missing), frame)
    with pytest.raises(SystemExit, match=install):
        build(tmp_path / "other", **missing)


def test_scripts_are_letters_of_their_block_in_its_fonts(tmp_path):
    import matplotlib
    from PIL import Image

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # draws these three blocks
    blocks = {k: bench_datasets.SCRIPT_BLOCKS[k] for k in ("armenian", "hebrew", "georgian")}
    for name, _, _ in blocks.values():
        shutil.copy(dejavu, fonts / f"NotoSans{name}-Regular.ttf")
    letters = bench_datasets._script_letters(fonts, "Hebrew", 0x0590, 0x05FF)
    assert "א" in {c for c, _ in letters} and "\u05b4" not in {c for c, _ in letters}  # alef, not the hiriq mark
    frame = bench_datasets.script_images(tmp_path / "out", per_class=4, fonts=fonts, blocks=blocks)
    assert frame.groupby("label").size().to_dict() == {k: 4 for k in blocks}
    for row in frame.itertuples():
        picture = np.asarray(Image.open(tmp_path / "out" / row.path))
        assert picture.shape == (32, 32) and picture[0, 0] == 255 and picture.min() < 100  # ink on white
    _listing_kept_else_install_named(bench_datasets.script_images, frame, tmp_path, "apt-get install fonts-noto-core",
                                     fonts=tmp_path / "nowhere", blocks=blocks)


def test_icons_are_the_single_tag_icons_of_the_chosen_tags(tmp_path):
    import json

    import matplotlib
    from PIL import Image

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # code points 41, 42... draw A, B...
    icons = [{"name": "a", "codepoint": "41", "tags": ["Arrow"], "deprecated": False},
             {"name": "b", "codepoint": "42", "tags": ["Math"], "deprecated": False},
             {"name": "c", "codepoint": "43", "tags": ["Math"], "deprecated": False},
             {"name": "d", "codepoint": "44", "tags": ["Math", "Arrow"], "deprecated": False},  # two tags: out
             {"name": "e", "codepoint": "45", "tags": ["Math"], "deprecated": True},  # deprecated: out
             {"name": "f", "codepoint": "46", "tags": ["Sport"], "deprecated": False}]  # another tag: out
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(icons))
    tags = {"arrow": "Arrow", "math": "Math"}
    frame = bench_datasets.icon_images(tmp_path / "out", font=font, meta=meta, tags=tags)
    assert frame.to_dict("list") == {"path": ["a.png", "b.png", "c.png"], "label": ["arrow", "math", "math"],
                                     "clean_label": ["arrow", "math", "math"]}
    for row in frame.itertuples():
        picture = np.asarray(Image.open(tmp_path / "out" / row.path))
        assert picture.shape == (32, 32) and picture[0, 0] == 255 and picture.min() < 100  # ink on white
    again = bench_datasets.icon_images(tmp_path / "out", meta=tmp_path / "nowhere.json", tags=tags)  # the listing
    pd.testing.assert_frame_equal(again, frame)


def test_clipart_leaves_out_links_pictures_of_two_folders_and_posters(tmp_path):
    from PIL import Image

    root = tmp_path / "png"
    for c in ("animals", "food"):
        (root / c / "sub").mkdir(parents=True)
    colours = iter(range(10, 250, 10))
    for c, n in (("animals", 3), ("food", 2)):
        for i in range(n):
            Image.new("RGBA", (40, 20), (next(colours), 0, 0, 255)).save(root / c / "sub" / f"{c}{i}.png")
    Image.new("RGBA", (8, 8), (1, 2, 3, 255)).save(root / "animals" / "both.png")  # the same bytes in two folders
    shutil.copy(root / "animals" / "both.png", root / "food" / "both.png")
    (root / "food" / "link.png").symlink_to(root / "animals" / "sub" / "animals0.png")  # a link: not a picture of food
    Image.new("RGBA", (100, 100), (9, 9, 9, 255)).save(root / "food" / "poster.png")  # over max_pixels
    frame = bench_datasets.clipart_images(tmp_path / "out", per_class=2, root=root, categories=["animals", "food"],
                                          max_pixels=5000)
    assert frame.groupby("label").size().to_dict() == {"animals": 2, "food": 2}
    for row in frame.itertuples():
        picture = np.asarray(Image.open(tmp_path / "out" / row.path))
        assert picture.shape == (32, 32, 3) and (picture[0, 0] == 255).all() and picture[16, 16, 0] < 255  # padded on white
    _listing_kept_else_install_named(bench_datasets.clipart_images, frame, tmp_path, "apt-get install openclipart-png",
                                     root=tmp_path / "nowhere")


def test_appliance_series_are_resampled_and_read_from_both_files(tmp_path):
    plaid = tmp_path / "PLAID"
    plaid.mkdir()
    header = "@problemName PLAID\n@univariate true\n@classLabel true 0 1\n@data\n"
    (plaid / "PLAID_TRAIN.ts").write_text(header + "0,1,2,3,4:0\n4,3,2,1,0:1\n")
    (plaid / "PLAID_TEST.ts").write_text(header + "0,2,4,6,8,6,4,2,0:0\n1,1,1:1\n")
    x, y = bench_datasets.appliance_features(tmp_path, length=3)
    assert x.shape == (4, 3) and sorted(y.tolist()) == [0, 0, 1, 1]
    assert np.allclose(x.mean(axis=0), 0, atol=1e-6) and np.allclose(x.std(axis=0), 1, atol=1e-5)  # z-scored points
    middle = np.array([1.0, 2, 2, 8])  # the middle points of 1,1,1 / 0..4 / 4..0 / 0..8..0 resampled to 3
    assert np.allclose(np.sort(x[:, 1]), (middle - middle.mean()) / middle.std(), atol=1e-5)


def test_ngram_features_are_unit_rows_that_tell_spellings_apart():
    x = bench_datasets.ngram_features(["hello", "hallo", "zzzzz"], dim=64)
    assert x.shape == (3, 64) and np.allclose(np.linalg.norm(x, axis=1), 1)
    assert x[0] @ x[1] > x[0] @ x[2]  # shared n-grams, closer


@pytest.mark.skipif(not shutil.which("rsvg-convert"), reason="rsvg-convert missing: apt-get install librsvg2-bin")
def test_cards_are_each_card_of_the_kept_decks_labelled_by_rank(tmp_path):
    import gzip

    from PIL import Image

    decks = tmp_path / "carddecks"
    cards = [f"{rank}_{suit}" for rank in bench_datasets.CARDS for suit in bench_datasets.CARD_SUITS]
    for deck in ("svg-plain", "svg-xskat-german"):  # the second is left out
        rects = "".join(f'<rect id="{card}" x="{40 * (i % 13)}" y="{60 * (i // 13)}" width="20" height="30" '
                        f'fill="rgb({10 * bench_datasets.CARDS.index(card.split("_")[0])},0,200)"/>'
                        for i, card in enumerate(cards))
        svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="520" height="240">{rects}</svg>'
        (decks / deck).mkdir(parents=True)
        (decks / deck / "deck.svgz").write_bytes(gzip.compress(svg.encode()))
    frame = bench_datasets.card_images(tmp_path / "out", variants=2, decks=decks, card_height=45)
    assert len(frame) == 52 * 2 and frame.groupby("label").size().to_dict() == {r: 8 for r in bench_datasets.CARDS}
    for row in frame.itertuples():
        picture = np.asarray(Image.open(tmp_path / "out" / row.path)).astype(int)
        assert row.path.startswith("plain-") and picture.shape == (32, 32, 3) and (picture[0, 0] == 255).all()
        assert np.abs(picture[16, 16] - [10 * bench_datasets.CARDS.index(row.label), 0, 200]).max() <= 2
    _listing_kept_else_install_named(bench_datasets.card_images, frame, tmp_path, "apt-get install kdegames-card-data-kf5",
                                     decks=tmp_path / "nowhere")


def test_manpages_are_the_listed_pages_labelled_by_section(tmp_path):
    import gzip

    root, info = tmp_path / "man", tmp_path / "info"
    info.mkdir()
    pages = {"man2/open.2.gz": ".TH OPEN 2\n.SH NAME\nopen \\- open a \\fBfile\\fP\n",
             "man3/printf.3.gz": ".\\\" a comment\n.TH PRINTF 3\nformatted output \\(em printf\n",
             "man3/sprintf.3.gz": ".so man3/printf.3\n",  # includes another page: left out
             "man7/signal.7.gz": ".TH SIGNAL 7\noverview of signals\n",
             "man5/other.5.gz": ".TH OTHER 5\nnot in the lists\n"}  # another package's page
    for name, text in pages.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(gzip.compress(text.encode()))
    (root / "man2" / "creat.2.gz").symlink_to(root / "man2" / "open.2.gz")  # a link: left out
    listed = ["man2/open.2.gz", "man2/creat.2.gz", "man3/printf.3.gz", "man3/sprintf.3.gz", "man7/signal.7.gz"]
    (info / "manpages.list").write_text("/usr/share/man\n" + "\n".join(f"/usr/share/man/{n}" for n in listed[4:]))
    (info / "manpages-dev.list").write_text("\n".join(f"/usr/share/man/{n}" for n in listed[:4]))
    x, y = bench_datasets.manpage_features(root, info, dim=64)
    assert x.shape == (3, 64) and y.tolist() == [0, 1, 4]  # sections 2, 3, 7
    assert np.allclose(np.linalg.norm(x, axis=1), 1)
    assert bench_datasets.roff_words(pages["man2/open.2.gz"]) == ["name", "open", "open", "file"]
    assert bench_datasets.roff_words(pages["man3/printf.3.gz"]) == ["formatted", "output", "printf"]
    with pytest.raises(SystemExit, match="apt-get install manpages manpages-dev"):
        bench_datasets.manpage_features(root, tmp_path / "nowhere")
