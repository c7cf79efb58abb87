"""Tests for attnsr.io: the float32 RGB [0,1] NCHW image contract, faithful write-back, clear errors."""

from __future__ import annotations

import logging
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from attnsr.errors import ImageError, OutputExistsError
from attnsr.io import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    ImageInfo,
    check_min_size,
    list_images,
    load_rgb,
    read_image,
    to_levels,
    write_image,
)

RNG = np.random.default_rng(1234)


def rand_u8(h: int, w: int, c: int | None = 3) -> np.ndarray:
    shape = (h, w) if c is None else (h, w, c)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def as_hwc_u8(t: torch.Tensor) -> np.ndarray:
    return to_levels(t)[0].permute(1, 2, 0).numpy()


def check_contract(t: torch.Tensor, channels: int, h: int, w: int) -> None:
    assert t.dtype == torch.float32
    assert t.shape == (1, channels, h, w)
    assert t.is_contiguous()
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG signature + IHDR claiming w x h + a tiny IDAT: the header opens, the pixels never decode."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + idat)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# ----------------------------------------------------------------------------- round trips


def test_png_rgb_round_trip_is_bit_identical(tmp_path: Path) -> None:
    src = rand_u8(37, 53)
    Image.fromarray(src, "RGB").save(tmp_path / "in.png")
    rgb, alpha, info = read_image(tmp_path / "in.png")
    check_contract(rgb, 3, 37, 53)
    assert alpha is None
    assert (info.format, info.mode, info.bit_depth, info.grayscale, info.has_alpha) == (
        "PNG",
        "RGB",
        8,
        False,
        False,
    )
    assert info.size == (53, 37) and info.path == tmp_path / "in.png"
    assert np.array_equal(as_hwc_u8(rgb), src)
    out = write_image(tmp_path / "out.png", rgb, info=info)
    assert out == tmp_path / "out.png"
    with Image.open(out) as im:
        assert im.mode == "RGB"
        assert np.array_equal(np.asarray(im), src)
    assert torch.equal(load_rgb(out), rgb)


@pytest.mark.parametrize(
    ("suffix", "fmt", "tol"),
    [
        (".jpg", "JPEG", 12),
        (".jpeg", "JPEG", 12),
        (".bmp", "BMP", 0),
        (".tif", "TIFF", 0),
        (".tiff", "TIFF", 0),
        (".webp", "WEBP", 14),
    ],
)
def test_other_formats_read_and_write(tmp_path: Path, suffix: str, fmt: str, tol: int) -> None:
    # smooth content so lossy codecs stay close to the source
    yy, xx = np.mgrid[0:48, 0:64]
    src = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.uint8)
    Image.fromarray(src, "RGB").save(tmp_path / f"in{suffix}", format=fmt, quality=95)
    rgb, alpha, info = read_image(tmp_path / f"in{suffix}")
    check_contract(rgb, 3, 48, 64)
    assert alpha is None and info.format == fmt and not info.grayscale
    diff = np.abs(as_hwc_u8(rgb).astype(int) - src.astype(int)).max()
    assert diff <= tol
    out = write_image(tmp_path / f"out{suffix}", rgb, info=info)
    with Image.open(out) as im:
        assert im.format == fmt and im.mode == "RGB"
        back = np.asarray(im.convert("RGB"))
    assert np.abs(back.astype(int) - as_hwc_u8(rgb).astype(int)).max() <= tol


def test_grayscale_stays_grayscale(tmp_path: Path) -> None:
    src = rand_u8(20, 30, None)
    Image.fromarray(src, "L").save(tmp_path / "g.png")
    rgb, alpha, info = read_image(tmp_path / "g.png")
    check_contract(rgb, 3, 20, 30)
    assert info.grayscale and info.mode == "L" and info.bit_depth == 8 and alpha is None
    assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 1], rgb[:, 2])
    for suffix in (".png", ".tif", ".bmp", ".jpg"):
        out = write_image(tmp_path / f"out{suffix}", rgb, info=info)
        with Image.open(out) as im:
            assert im.mode == "L", suffix
            if suffix != ".jpg":
                assert np.array_equal(np.asarray(im), src)
    # without info the same tensor is written as colour
    with Image.open(write_image(tmp_path / "plain.png", rgb)) as im:
        assert im.mode == "RGB"


def test_one_bit_image_reads_as_grayscale(tmp_path: Path) -> None:
    src = rand_u8(9, 11, None) > 127
    Image.fromarray(src).save(tmp_path / "b.png")
    rgb, _, info = read_image(tmp_path / "b.png")
    assert info.mode == "1" and info.grayscale
    assert torch.equal(rgb[0, 0], torch.from_numpy(src.astype(np.float32)))


def test_rgba_alpha_separated_and_written_back(tmp_path: Path) -> None:
    src = rand_u8(16, 24, 4)
    Image.fromarray(src, "RGBA").save(tmp_path / "a.png")
    rgb, alpha, info = read_image(tmp_path / "a.png")
    check_contract(rgb, 3, 16, 24)
    assert alpha is not None
    check_contract(alpha, 1, 16, 24)
    assert info.has_alpha and not info.grayscale
    assert np.array_equal(as_hwc_u8(rgb), src[..., :3])
    assert np.array_equal(to_levels(alpha)[0, 0].numpy(), src[..., 3])
    for suffix in (".png", ".tif", ".webp"):
        out = write_image(tmp_path / f"out{suffix}", rgb, alpha=alpha, info=info)
        with Image.open(out) as im:
            assert im.mode == "RGBA", suffix
            if suffix != ".webp":
                assert np.array_equal(np.asarray(im), src)
    # load_rgb drops alpha
    assert torch.equal(load_rgb(tmp_path / "a.png"), rgb)


def test_pillow_warnings_about_a_damaged_file_are_logged_once_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "damaged.tif"
    Image.fromarray(rand_u8(4, 5)).save(path)
    data = bytearray(path.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry : entry + 2])[0] == 284:  # PlanarConfiguration: one value
            data[entry + 4 : entry + 8] = struct.pack("<I", 2)  # two: Pillow warns, keeps the first and loads
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="attnsr.io"):
        warnings.simplefilter("error")  # nothing printed as a Python warning
        rgb, _, _ = read_image(path)
    assert rgb.shape == (1, 3, 4, 5)
    message = "Metadata Warning, tag 284 had too many entries: 2, expected 1"
    assert [r.getMessage() for r in caplog.records] == [f"'{path}': {message}"]


def test_jpeg_drops_alpha_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rgb = torch.rand(1, 3, 8, 8)
    with caplog.at_level(logging.WARNING, logger="attnsr.io"):
        out = write_image(tmp_path / "x.jpg", rgb, alpha=torch.ones(1, 1, 8, 8))
    assert "alpha dropped" in caplog.text
    with Image.open(out) as im:
        assert im.mode == "RGB"


def test_la_grayscale_with_alpha(tmp_path: Path) -> None:
    src = rand_u8(10, 12, 2)
    Image.fromarray(src, "LA").save(tmp_path / "la.png")
    rgb, alpha, info = read_image(tmp_path / "la.png")
    assert info.grayscale and info.has_alpha and alpha is not None
    assert np.array_equal(to_levels(rgb)[0, 1].numpy(), src[..., 0])
    assert np.array_equal(to_levels(alpha)[0, 0].numpy(), src[..., 1])
    with Image.open(write_image(tmp_path / "out.png", rgb, alpha=alpha, info=info)) as im:
        assert im.mode == "LA"
        assert np.array_equal(np.asarray(im), src)


def test_palette_without_transparency(tmp_path: Path) -> None:
    pal_im = Image.fromarray(rand_u8(12, 14, None), "P")
    palette = RNG.integers(0, 256, 768, dtype=np.uint8)
    palette[0:3] = (255, 0, 0)  # surely colourful
    pal_im.putpalette(palette.tolist())
    pal_im.save(tmp_path / "p.png")
    expected = np.asarray(pal_im.convert("RGB"))
    rgb, alpha, info = read_image(tmp_path / "p.png")
    assert info.mode == "P" and not info.grayscale and alpha is None
    assert np.array_equal(as_hwc_u8(rgb), expected)


def test_palette_with_transparency(tmp_path: Path) -> None:
    idx = np.zeros((6, 8), np.uint8)
    idx[:, 4:] = 1
    im = Image.fromarray(idx, "P")
    im.putpalette([10, 200, 30, 250, 20, 90] + [0] * 762)
    im.info["transparency"] = 1
    im.save(tmp_path / "pt.png", transparency=1)
    rgb, alpha, info = read_image(tmp_path / "pt.png")
    assert info.mode == "P" and info.has_alpha and alpha is not None
    a = to_levels(alpha)[0, 0].numpy()
    assert (a[:, :4] == 255).all() and (a[:, 4:] == 0).all()
    assert as_hwc_u8(rgb)[0, 0].tolist() == [10, 200, 30]


def test_gray_palette_counts_as_grayscale(tmp_path: Path) -> None:
    im = Image.fromarray(rand_u8(5, 7, None), "P")
    im.putpalette([v for i in range(256) for v in (i, i, i)])
    im.save(tmp_path / "gp.png")
    rgb, _, info = read_image(tmp_path / "gp.png")
    assert info.grayscale
    assert np.array_equal(to_levels(rgb)[0, 0].numpy(), np.asarray(im))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grayscale_round_trip_exact(tmp_path: Path, suffix: str) -> None:
    src = RNG.integers(0, 65536, (19, 23), dtype=np.uint16)
    src[0, :4] = (0, 1, 65534, 65535)  # extremes and values that are not multiples of 257
    Image.fromarray(src).save(tmp_path / f"g16{suffix}")
    rgb, alpha, info = read_image(tmp_path / f"g16{suffix}")
    check_contract(rgb, 3, 19, 23)
    assert info.bit_depth == 16 and info.grayscale and alpha is None and info.mode.startswith("I")
    assert np.array_equal(np.round(rgb[0, 0].numpy().astype(np.float64) * 65535).astype(np.uint16), src)
    out = write_image(tmp_path / f"out{suffix}", rgb, info=info)
    with Image.open(out) as im:
        assert im.mode == "I;16"
        assert np.array_equal(np.asarray(im), src)


def test_rgb48_png_is_read_at_8_bits_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    h, w = 4, 5
    vals = RNG.integers(0, 65536, (h, w, 3)).astype(">u2")
    raw = b"".join(b"\0" + vals[y].tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
    (tmp_path / "rgb48.png").write_bytes(data + png_chunk(b"IEND", b""))
    with caplog.at_level(logging.WARNING, logger="attnsr.io"):
        rgb, _, info = read_image(tmp_path / "rgb48.png")
    assert info.bit_depth == 8 and not info.grayscale
    assert "8-bit precision" in caplog.text
    assert np.array_equal(as_hwc_u8(rgb), (vals >> 8).astype(np.uint8))


def test_float_tiff_in_range_and_out_of_range(tmp_path: Path) -> None:
    ok = RNG.random((6, 7), dtype=np.float32)
    Image.fromarray(ok, "F").save(tmp_path / "f.tif")
    rgb, _, info = read_image(tmp_path / "f.tif")
    assert info.mode == "F" and info.grayscale
    assert torch.equal(rgb[0, 2], torch.from_numpy(ok))
    Image.fromarray(ok * 4 - 1, "F").save(tmp_path / "bad_f.tif")
    with pytest.raises(ImageError, match="outside \\[0, 1\\]") as e:
        read_image(tmp_path / "bad_f.tif")
    assert "bad_f.tif" in str(e.value) and "\n" not in str(e.value)


def test_32bit_int_tiff_out_of_16bit_range_rejected(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 4), 70000, np.int32), "I").save(tmp_path / "i32.tif")
    with pytest.raises(ImageError, match="i32.tif.*16-bit"):
        read_image(tmp_path / "i32.tif")


def test_cmyk_is_converted_to_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # pure red ink-wise
    rgb, alpha, info = read_image(tmp_path / "c.jpg")
    check_contract(rgb, 3, 6, 8)
    assert info.mode == "CMYK" and not info.grayscale and alpha is None and info.icc_profile is None
    r, g, b = as_hwc_u8(rgb)[3, 4].tolist()
    assert r > 200 and g < 60 and b < 60


def test_lab_tiff_is_converted_to_rgb(tmp_path: Path) -> None:
    src = (48 + np.random.default_rng(7).integers(0, 256, (6, 9, 3)) // 2).astype(np.uint8)  # moderate colours
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    ImageCms.applyTransform(Image.fromarray(src), to_lab).save(tmp_path / "lab.tif")
    rgb, _, info = read_image(tmp_path / "lab.tif")
    assert info.mode == "LAB" and not info.grayscale
    check_contract(rgb, 3, 6, 9)
    err = np.abs(as_hwc_u8(rgb).astype(int) - src.astype(int))
    assert err.mean() <= 2 and err.max() <= 20  # 8-bit Lab quantisation


def test_exif_orientation_applied(tmp_path: Path) -> None:
    src = np.zeros((20, 40, 3), np.uint8)
    src[:, :20] = (255, 0, 0)  # left half red
    src[:, 20:] = (0, 0, 255)  # right half blue
    im = Image.fromarray(src)
    exif = im.getexif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise for display
    exif[0x010F] = "attnsr-test"  # Make: other tags must survive
    im.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    rgb, _, info = read_image(tmp_path / "rot.jpg")
    assert info.size == (20, 40) and rgb.shape == (1, 3, 40, 20)
    px = as_hwc_u8(rgb)
    assert px[2, 10, 0] > 200 and px[2, 10, 2] < 60  # red (old left) is now on top
    assert px[37, 10, 2] > 200 and px[37, 10, 0] < 60  # blue at the bottom
    assert info.exif is not None
    loaded = Image.Exif()
    loaded.load(info.exif)
    assert loaded.get(0x0112) == 1 and loaded.get(0x010F) == "attnsr-test"
    out = write_image(tmp_path / "out.jpg", rgb, info=info)
    with Image.open(out) as back:
        assert back.size == (20, 40) and back.getexif().get(0x0112) == 1
        assert back.getexif().get(0x010F) == "attnsr-test"
    raw, _, raw_info = read_image(tmp_path / "rot.jpg", apply_exif=False)
    assert raw.shape == (1, 3, 20, 40) and raw_info.size == (40, 20)


def test_icc_profile_carried_over(tmp_path: Path) -> None:
    icc = srgb_icc()
    Image.fromarray(rand_u8(8, 8)).save(tmp_path / "icc.png", icc_profile=icc)
    rgb, _, info = read_image(tmp_path / "icc.png")
    assert info.icc_profile == icc
    for suffix in (".png", ".jpg", ".tif", ".webp"):
        with Image.open(write_image(tmp_path / f"out{suffix}", rgb, info=info)) as im:
            assert im.info.get("icc_profile") == icc, suffix
    with Image.open(write_image(tmp_path / "noinfo.png", rgb)) as im:
        assert not im.info.get("icc_profile")


def test_rgb_icc_not_attached_to_grayscale_output(tmp_path: Path) -> None:
    info = ImageInfo(
        path=None,
        format="PNG",
        mode="L",
        bit_depth=8,
        grayscale=True,
        has_alpha=False,
        icc_profile=srgb_icc(),
        exif=None,
        size=(4, 4),
    )
    with Image.open(write_image(tmp_path / "g.png", torch.rand(1, 3, 4, 4), info=info)) as im:
        assert im.mode == "L" and not im.info.get("icc_profile")


# ----------------------------------------------------------------------------- bad inputs


def _bad_zero(d: Path) -> Path:
    (d / "empty.png").write_bytes(b"")
    return d / "empty.png"


def _bad_text(d: Path) -> Path:
    (d / "notes.png").write_text("this is not an image\nsecond line\n")
    return d / "notes.png"


def _bad_trunc_png(d: Path) -> Path:
    Image.fromarray(rand_u8(64, 64)).save(d / "full.png")
    data = (d / "full.png").read_bytes()
    (d / "half.png").write_bytes(data[: len(data) // 2])
    return d / "half.png"


def _bad_trunc_jpg(d: Path) -> Path:
    Image.fromarray(rand_u8(64, 64)).save(d / "full.jpg")
    data = (d / "full.jpg").read_bytes()
    (d / "half.jpg").write_bytes(data[: len(data) // 2])
    return d / "half.jpg"


def _bad_gif_suffix(d: Path) -> Path:
    Image.fromarray(rand_u8(8, 8)).save(d / "anim.gif")
    return d / "anim.gif"


def _bad_gif_as_png(d: Path) -> Path:
    Image.fromarray(rand_u8(8, 8)).save(d / "disguised.png", format="GIF")
    return d / "disguised.png"


def _bad_txt(d: Path) -> Path:
    (d / "readme.txt").write_text("hello")
    return d / "readme.txt"


def _bad_missing(d: Path) -> Path:
    return d / "nowhere.png"


def _bad_dir(d: Path) -> Path:
    (d / "folder.png").mkdir()
    return d / "folder.png"


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (_bad_zero, "empty file"),
        (_bad_text, "not a recognised image"),
        (_bad_trunc_png, "truncated or corrupt"),
        (_bad_trunc_jpg, "truncated or corrupt"),
        (_bad_gif_suffix, "unsupported file type '.gif'"),
        (_bad_gif_as_png, "unsupported image format GIF"),
        (_bad_txt, "unsupported file type '.txt'"),
        (_bad_missing, "no such file"),
        (_bad_dir, "not a regular file"),
    ],
)
def test_bad_inputs_raise_one_line_image_error(tmp_path: Path, make, needle: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageError) as e:
        read_image(path)
    msg = str(e.value)
    assert "\n" not in msg and "\r" not in msg
    assert path.name in msg
    assert needle in msg
    with pytest.raises(ImageError):
        load_rgb(path)


def test_pixel_limit_checked_before_decoding(tmp_path: Path) -> None:
    Image.fromarray(rand_u8(30, 40)).save(tmp_path / "small.png")
    with pytest.raises(ImageError) as e:
        read_image(tmp_path / "small.png", max_pixels=1000)
    msg = str(e.value)
    assert (
        msg == f"'{tmp_path / 'small.png'}' is 40x30 = 0.0 MP, above the limit of 0.0 MP (raise max_pixels to read it)"
    )
    assert read_image(tmp_path / "small.png", max_pixels=1200)[0].shape == (1, 3, 30, 40)
    # a header alone is enough: the check happens before any pixel data is decoded
    png_header_only(tmp_path / "big.png", 12000, 9000)
    with pytest.raises(ImageError, match=r"'.*big\.png' is 12000x9000 = 108\.0 MP, above the limit of 100\.0 MP"):
        read_image(tmp_path / "big.png")
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_max_pixels_overrides_pillow_bomb_guard(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    png_header_only(tmp_path / "huge.png", 15000, 13000)  # 195 MP: beyond Pillow's own hard limit
    with pytest.raises(ImageError) as e:
        read_image(tmp_path / "huge.png", max_pixels=300_000_000)
    msg = str(e.value)
    assert "truncated or corrupt" in msg and "huge.png" in msg and "bomb" not in msg.lower()
    assert Image.MAX_IMAGE_PIXELS == before


def test_tiny_image_accepted_and_check_min_size(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "x.png")
    rgb, _, info = read_image(tmp_path / "x.png")
    assert rgb.shape == (1, 3, 1, 1) and as_hwc_u8(rgb)[0, 0].tolist() == [1, 2, 3]
    check_min_size(info, 1)
    with pytest.raises(ImageError) as e:
        check_min_size(info, 8)
    assert str(e.value) == f"'{tmp_path / 'x.png'}' is 1x1, smaller than the minimum 8x8 this command needs"


# ----------------------------------------------------------------------------- writing


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "keep.png"
    Image.fromarray(rand_u8(5, 5)).save(target)
    before = target.read_bytes()
    with pytest.raises(OutputExistsError) as e:
        write_image(target, torch.rand(1, 3, 5, 5))
    assert "keep.png" in str(e.value) and "exists" in str(e.value) and "\n" not in str(e.value)
    assert target.read_bytes() == before
    write_image(target, torch.zeros(1, 3, 5, 5), overwrite=True)
    with Image.open(target) as im:
        assert (np.asarray(im) == 0).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_write_into_missing_or_invalid_folder(tmp_path: Path) -> None:
    (tmp_path / "plainfile").write_text("x")
    for target in (tmp_path / "plainfile" / "out.png", tmp_path / "missing" / "out.png"):
        with pytest.raises(ImageError) as e:
            write_image(target, torch.rand(1, 3, 4, 4))
        assert "out.png" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ImageError):
        write_image(tmp_path / "plainfile" / "sub" / "out.png", torch.rand(1, 3, 4, 4), parents=True)
    made = write_image(tmp_path / "missing" / "deeper" / "out.png", torch.rand(1, 3, 4, 4), parents=True)
    assert made.is_file()


def test_write_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="out.gif.*unsupported file type"):
        write_image(tmp_path / "out.gif", torch.rand(1, 3, 4, 4))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "a.png", torch.rand(1, 3, 6, 6))
    write_image(tmp_path / "a.png", torch.rand(1, 3, 6, 6), overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    original = (tmp_path / "a.png").read_bytes()

    # a real encoder failure: EXIF too long for a JPEG APP1 segment
    info = ImageInfo(
        path=None,
        format="JPEG",
        mode="RGB",
        bit_depth=8,
        grayscale=False,
        has_alpha=False,
        icc_profile=None,
        exif=b"Exif\x00\x00" + b"\x00" * 70000,
        size=(6, 6),
    )
    with pytest.raises(ImageError) as e:
        write_image(tmp_path / "b.jpg", torch.rand(1, 3, 6, 6), info=info)
    assert "b.jpg" in str(e.value) and "\n" not in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]

    # a failure after part of the file was written, while replacing an existing file
    def broken_save(self, fp, format=None, **params):
        fp.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageError, match="disk full"):
        write_image(tmp_path / "a.png", torch.rand(1, 3, 6, 6), overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    assert (tmp_path / "a.png").read_bytes() == original


def test_write_accepts_3d_and_clamps(tmp_path: Path) -> None:
    t = torch.tensor([-0.5, 0.5, 1.5]).view(3, 1, 1).expand(3, 2, 2)
    with Image.open(write_image(tmp_path / "c.png", t)) as im:
        assert np.asarray(im)[0, 0].tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="1x3xHxW"):
        write_image(tmp_path / "bad.png", torch.rand(1, 4, 2, 2))


# ----------------------------------------------------------------------------- helpers


def test_to_levels_matches_torch_round() -> None:
    t = torch.rand(2, 3, 7, 5) * 1.4 - 0.2
    u = to_levels(t)
    assert u.dtype == torch.uint8 and u.shape == t.shape
    assert torch.equal(u, (t.clamp(0, 1) * 255).round().to(torch.uint8))
    assert to_levels(torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0])).tolist() == [0, 0, 128, 255, 255]
    x = torch.arange(256, dtype=torch.float32) / 255
    assert torch.equal(to_levels(x), torch.arange(256, dtype=torch.uint8))


def test_to_levels_16_bit() -> None:
    u = to_levels(torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5]), bits=16)
    assert u.dtype == torch.int32 and u.tolist() == [0, 0, 32768, 65535, 65535]
    x = torch.arange(65536, dtype=torch.float64) / 65535
    assert torch.equal(to_levels(x, bits=16), torch.arange(65536, dtype=torch.int32))
    with pytest.raises(ValueError, match="bits"):
        to_levels(x, bits=12)


def test_to_levels_in_place_gives_the_same_levels_and_keeps_the_input_otherwise() -> None:
    t = torch.rand(3, 17, 19) * 1.4 - 0.2
    kept = t.clone()
    for bits in (8, 16):
        levels = to_levels(t, bits=bits)
        assert torch.equal(t, kept), "without inplace the input is not touched"
        assert torch.equal(to_levels(t.clone(), bits=bits, inplace=True), levels)
    # half precision cannot hold 65535: its levels are computed in float32, and white stays white
    assert to_levels(torch.ones(2, dtype=torch.float16), bits=16).tolist() == [65535, 65535]


def test_list_images(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "c.webp", "d.tiff", "notes.txt", "anim.gif", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.png").write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.webp", "d.tiff"]
    assert all(p.parent == tmp_path for p in list_images(tmp_path))
    with pytest.raises(ImageError, match="does not exist"):
        list_images(tmp_path / "nope")
    with pytest.raises(ImageError, match="not a folder"):
        list_images(tmp_path / "notes.txt")
    assert SUPPORTED_SUFFIXES == (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
