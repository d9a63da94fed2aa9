"""lra.images: every odd or damaged image either becomes 8-bit RGB or raises one clear BadImage."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from lra.core.errors import LraError
from lra.data.images import BadImage, open_image

from .conftest import write_image


def _rgb(path):
    im = open_image(str(path), row=7, item_id="x7")
    assert im.mode == "RGB"
    return np.asarray(im)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    p = write_image(tmp_path / "g.png", mode="L")
    a = _rgb(p)
    assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()
    assert np.array_equal(a[..., 0], np.asarray(Image.open(p)))


def test_cmyk_jpeg_is_converted(tmp_path):
    p = tmp_path / "c.jpg"
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(p)  # pure red in CMYK
    assert Image.open(p).mode == "CMYK"
    a = _rgb(p)
    assert a.shape == (10, 20, 3)
    assert a[..., 0].mean() > 200 and a[..., 1].mean() < 60 and a[..., 2].mean() < 60


def test_rgba_transparency_is_composited_on_white(tmp_path):
    p = tmp_path / "t.png"
    a = np.zeros((8, 8, 4), np.uint8)
    a[:, :4] = (255, 0, 0, 255)  # opaque red left half, fully transparent (black) right half
    Image.fromarray(a, "RGBA").save(p)
    rgb = _rgb(p)
    assert (rgb[:, :4] == (255, 0, 0)).all()
    assert (rgb[:, 4:] == 255).all()  # white, not the black of the hidden colour


def test_16bit_png_is_rescaled_not_clipped(tmp_path):
    p = tmp_path / "d.png"
    a = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(a).save(p)
    assert Image.open(p).mode.startswith("I")
    rgb = _rgb(p)
    assert np.array_equal(rgb[..., 0], (a >> 8).astype(np.uint8))  # Pillow's own convert gives mostly 255
    assert 100 < rgb.mean() < 155


def test_truncated_jpeg_is_bad(tmp_path):
    p = write_image(tmp_path / "t.jpg", size=(64, 64))
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(BadImage) as e:
        open_image(str(p), row=3, item_id="id3")
    msg = str(e.value)
    assert "manifest row 3 (id id3)" in msg and str(p) in msg and "bad_images: skip" in msg
    assert "cannot be decoded" in e.value.reason


def test_corrupt_bytes_are_bad(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    with pytest.raises(BadImage, match="cannot be decoded"):
        open_image(str(p), row=0)


def test_zero_byte_file_is_bad(tmp_path):
    p = tmp_path / "z.png"
    p.write_bytes(b"")
    with pytest.raises(BadImage, match=r"empty file \(0 bytes\)"):
        open_image(str(p), row=1)


def test_missing_file_is_bad_and_an_lra_error(tmp_path):
    with pytest.raises(LraError, match="not found"):
        open_image(str(tmp_path / "nope.jpg"), row=2)


def test_palette_with_transparency(tmp_path):
    p = tmp_path / "p.png"
    im = Image.new("P", (4, 4), 0)
    im.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    im.putpixel((0, 0), 1)
    im.info["transparency"] = 0
    im.save(p, transparency=0)
    rgb = _rgb(p)
    assert tuple(rgb[0, 0]) == (10, 200, 10) and tuple(rgb[1, 1]) == (255, 255, 255)
