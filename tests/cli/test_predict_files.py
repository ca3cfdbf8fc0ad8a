"""``graphspec predict`` and the files around it: names that collide, an --out among the
inputs, oversized, corrupt and 16-bit images."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from compiler import GraphNet, compile_graph
from graphspec import load_spec
from graphspec.cli import main
from tests import tiny_seg

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny segmentation spec and seeded weights (biases zeroed, so the classes follow
    the pixels)."""
    folder = tmp_path_factory.mktemp("model")
    spec = folder / "tiny.yaml"
    spec.write_text(tiny_seg())
    torch.manual_seed(0)
    state = GraphNet(compile_graph(load_spec(spec))).state_dict()
    weights = folder / "w.pt"
    torch.save({k: v * 0 if k.endswith(".bias") else v for k, v in state.items()}, weights)
    return spec, weights


def _predict(model: tuple[Path, Path], *args: str | Path) -> int:
    spec, weights = model
    return main(["predict", str(spec), "--weights", str(weights), *map(str, args)])


def _image(path: Path, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A random RGB image of ``size`` (W, H) saved at ``path``; returns its pixels."""
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _png(width: int, height: int, depth: int, colour: int, rows: list[bytes]) -> bytes:
    """A PNG written by hand: Pillow writes neither 16-bit RGB nor a 1-bit giant quickly."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(b"\x00" + row) for row in rows) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_stems_that_collide_keep_their_suffix(model, tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    sizes = {"a.png": (40, 30), "a.jpg": (44, 30), "x.png": (48, 30), "x_mask.png": (52, 30)}
    for index, (name, size) in enumerate(sizes.items()):
        _image(photos / name, size, seed=index)
    assert _predict(model, photos, "--out", tmp_path / "out") == 0
    # sorted: a.jpg, a.png, x.png, x_mask.png; x.png owns x_mask.png, so x_mask gets _2
    expected = {
        "a_jpg.png": "a.jpg",
        "a_png.png": "a.png",
        "x.png": "x.png",
        "x_mask_2.png": "x_mask.png",
    }
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    masks = [name.replace(".png", "_mask.png") for name in expected]
    assert written == sorted([*expected, *masks])
    for overlay, image in expected.items():  # each picture is of its own image (its size)
        assert Image.open(tmp_path / "out" / overlay).size == sizes[image]
        mask = np.asarray(Image.open(tmp_path / "out" / overlay.replace(".png", "_mask.png")))
        assert mask.shape == sizes[image][::-1]
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"{photos / 'x_mask.png'} -> {tmp_path / 'out' / 'x_mask_2.png'}, x_mask_2_mask.png"
        in lines
    )


def test_out_among_the_inputs_is_refused(model, tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    pixels = _image(photos / "a.png", (40, 30))
    before = (photos / "a.png").read_bytes()
    for out in (photos, photos / "preds"):  # a wrong command line: exit 2, before any work
        assert _predict(model, photos, "--out", out) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "input folder" in err and "--exist-ok" in err
    assert _predict(model, photos / "a.png", "--out", photos) == 2
    assert "is the folder of the input image" in capsys.readouterr().err
    # --exist-ok lets the pictures sit beside the images, never over one of them:
    assert _predict(model, photos, "--out", photos, "--exist-ok") == 2
    err = capsys.readouterr().err
    image = photos / "a.png"
    want = f"{image} would be written over the input image {image} (choose another --out)"
    assert err == f"graphspec predict: {want}\n"
    assert (photos / "a.png").read_bytes() == before
    assert np.array_equal(np.asarray(Image.open(photos / "a.png")), pixels)
    assert sorted(p.name for p in photos.iterdir()) == ["a.png"]
    assert _predict(model, photos, "--out", photos / "preds", "--exist-ok") == 0
    assert sorted(p.name for p in (photos / "preds").iterdir()) == ["a.png", "a_mask.png"]


def test_an_output_that_is_an_input_by_another_path_is_refused(
    model, tmp_path: Path, capsys
) -> None:
    _image(tmp_path / "in" / "q.jpg", (40, 30))
    _image(tmp_path / "keep" / "r.png", (40, 30), seed=1)
    before = (tmp_path / "keep" / "r.png").read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "q.png").symlink_to(tmp_path / "keep" / "r.png")
    assert _predict(model, tmp_path / "in", tmp_path / "keep", "--out", tmp_path / "out") == 2
    assert "would be written over the input image" in capsys.readouterr().err
    assert (tmp_path / "keep" / "r.png").read_bytes() == before


def test_an_oversized_image_is_refused_from_its_header(model, tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    _image(photos / "b_ok.png", (40, 30))
    # 17 KB that decode to 12000 x 12000 (1.7 GiB as float RGB), and one past Pillow's own
    # bomb limit (179 megapixels), which used to be an "internal error".
    for name, side in (("a_huge.png", 12000), ("c_bomb.png", 20000)):
        rows = [bytes((side + 7) // 8)] * side
        (photos / name).write_bytes(_png(side, side, 1, 0, rows))
    assert _predict(model, photos, "--out", tmp_path / "out") == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: image {photos / 'a_huge.png'} is too large: 12000x12000 is 144.0 megapixels "
        "(at most 50); downscale it first (skipped)",
        f"error: image {photos / 'c_bomb.png'} is too large: 20000x20000 is 400.0 megapixels "
        "(at most 50); downscale it first (skipped)",
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b_ok.png", "b_ok_mask.png"]


def test_a_corrupt_image_is_skipped_and_the_rest_predicted(model, tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    _image(photos / "good.png", (40, 30))
    whole = (photos / "good.png").read_bytes()
    (photos / "a_cut.png").write_bytes(whole[: len(whole) // 2])
    (photos / "b_text.jpg").write_text("not a JPEG")
    assert _predict(model, photos, "--out", tmp_path / "out") == 1
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 2
    assert err[0].startswith(f"error: cannot read image {photos / 'a_cut.png'} (")
    assert err[1].startswith(f"error: cannot read image {photos / 'b_text.jpg'} (")
    assert all(line.endswith("(skipped)") for line in err)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.png", "good_mask.png"]
    assert captured.out.splitlines() == [
        f"{photos / 'good.png'} -> {tmp_path / 'out' / 'good.png'}, good_mask.png"
    ]


def test_16_bit_images_predict_like_their_8_bit_versions(model, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, (30, 40), dtype=np.uint16)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint16)
    eight, sixteen = tmp_path / "eight", tmp_path / "sixteen"
    eight.mkdir(), sixteen.mkdir()
    Image.fromarray(grey.astype(np.uint8)).save(eight / "grey.png")
    Image.fromarray(grey * 257).save(sixteen / "grey.png")  # mode I;16
    Image.fromarray(rgb.astype(np.uint8)).save(eight / "rgb.png")
    rows = [(rgb[y] * 257).astype(">u2").tobytes() for y in range(30)]
    (sixteen / "rgb.png").write_bytes(_png(40, 30, 16, 2, rows))
    assert Image.open(sixteen / "grey.png").mode == "I;16"
    for folder in (eight, sixteen):
        assert _predict(model, folder, "--out", tmp_path / f"out_{folder.name}") == 0
    for name in ("grey_mask.png", "rgb_mask.png", "grey.png"):
        want = np.asarray(Image.open(tmp_path / "out_eight" / name))
        got = np.asarray(Image.open(tmp_path / "out_sixteen" / name))
        assert np.array_equal(got, want), name
