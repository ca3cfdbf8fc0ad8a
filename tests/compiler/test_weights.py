"""``compiler.emit.weights``: the one reader of weight files, on files made here by hand.

The network is a conv and a batch norm (float parameters and buffers, one int64 buffer), so
its state_dict's byte count is worked out by hand, and every bad file is a real
``torch.save`` archive changed in one way: NaN or inf values, an int tensor, entries
rewritten with ZIP_DEFLATED, a storage larger than the network, a central directory that
claims more than the file holds. Files that must be refused before any tensor data is
read are read with ``torch.load`` replaced by a function that fails the test.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from compiler.emit.weights import (
    WeightsBound,
    WeightsError,
    load_weights_file,
    read_state_dict,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


# conv weight 4*3*3*3 = 108 and bias 4; BN weight, bias, running mean and var 4 each: 128
# float32 values (512 bytes) and num_batches_tracked, one int64 (8 bytes).
NET_BYTES = 128 * 4 + 8
TENSOR_BOUND = 2 * NET_BYTES + (1 << 20)


def _saved(tmp_path: Path, change: dict[str, torch.Tensor] | None = None) -> Path:
    """A trained-looking state_dict of :func:`_net` (other seed) with ``change`` applied."""
    torch.manual_seed(1)
    state = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).state_dict()
    state.update(change or {})
    path = tmp_path / "w.pt"
    torch.save(state, path)
    return path


@pytest.fixture
def no_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``torch.load`` fails the test: a file refused here is refused before torch reads it
    (checked after the test too, as the reader turns torch's errors into its own)."""
    calls: list[object] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise AssertionError("torch.load was called on a file that should have been refused")

    monkeypatch.setattr(torch, "load", refuse)
    yield
    assert calls == []


def _entry(path: Path, suffix: str) -> str:
    """The name ``torch.save`` gave the entry ending in ``suffix`` (its folder is the
    file's stem)."""
    with zipfile.ZipFile(path) as archive:
        return next(name for name in archive.namelist() if name.endswith(suffix))


def _unchanged(net: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_the_bound_is_twice_the_networks_bytes_and_a_mebibyte() -> None:
    bound = WeightsBound.of(_net())
    assert (bound.network_bytes, bound.tensor_bytes) == (NET_BYTES, TENSOR_BOUND)
    assert bound.other_bytes == (64 << 10) + 7 * 1024  # seven state_dict keys
    with torch.device("meta"):
        assert WeightsBound.of(_net()) == bound  # no storage needed


def test_a_good_file_loads_through_a_memory_map(tmp_path: Path, monkeypatch) -> None:
    path, net = _saved(tmp_path), _net()
    calls: list[dict[str, Any]] = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or load(*a, **k))
    state = load_weights_file(net, path)
    assert calls == [{"map_location": "cpu", "weights_only": True, "mmap": True}]
    saved = load(path, weights_only=True)
    for key, value in net.state_dict().items():
        assert torch.equal(value, saved[key]) and torch.equal(state[key], saved[key])


def test_all_nan_weights_are_refused_naming_the_keys(tmp_path: Path) -> None:
    torch.manual_seed(1)
    floats = {k: v for k, v in _net().state_dict().items() if v.is_floating_point()}
    path = _saved(tmp_path, {k: torch.full_like(v, float("nan")) for k, v in floats.items()})
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError) as caught:
        load_weights_file(net, path)
    assert str(caught.value) == (
        f"weights {path} hold NaN or inf: tensors (6): 0.weight, 0.bias, 1.weight, 1.bias, "
        "1.running_mean, ... (1 more)"
    )
    assert _unchanged(net, before)  # nothing was copied in


def test_one_infinity_is_refused_naming_its_key(tmp_path: Path) -> None:
    var = torch.ones(4)
    var[2] = float("inf")
    path = _saved(tmp_path, {"1.running_var": var})
    with pytest.raises(WeightsError) as caught:
        load_weights_file(_net(), path)
    assert str(caught.value) == f"weights {path} hold NaN or inf: tensors (1): 1.running_var"


def test_an_int_tensor_for_a_float_parameter_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path, {"0.weight": torch.ones(4, 3, 3, 3, dtype=torch.int64)})
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsError) as caught:
        load_weights_file(net, path)
    assert str(caught.value) == (
        f"weights {path} do not fit the network: wrong dtypes (1): 0.weight expected "
        "floating point (torch.float32), got torch.int64"
    )
    assert _unchanged(net, before)


def test_float64_weights_of_a_float32_network_still_load(tmp_path: Path) -> None:
    torch.manual_seed(1)
    double = {k: v.double() if v.is_floating_point() else v for k, v in _net().state_dict().items()}
    path = _saved(tmp_path, double)
    net = _net()
    load_weights_file(net, path)
    assert torch.equal(net.state_dict()["0.weight"], double["0.weight"].float())


def test_a_compressed_archive_is_refused_before_torch_reads_it(tmp_path: Path, no_read) -> None:
    plain = _saved(tmp_path)
    deflated = tmp_path / "deflated.pt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(deflated, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    with pytest.raises(WeightsError) as caught:
        read_state_dict(deflated, _net())
    assert str(caught.value) == (
        f"cannot read weights {deflated} (zip entry {_entry(plain, '/data.pkl')} is compressed "
        "(method 8); torch.save stores entries uncompressed, and inflating one could take any "
        "amount of memory)"
    )


def test_the_deflated_archive_is_one_torch_would_inflate(tmp_path: Path) -> None:
    """The file of the test above is no strawman: torch itself reads it (inflating it)."""
    plain = _saved(tmp_path)
    deflated = tmp_path / "deflated.pt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(deflated, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    inflated = torch.load(deflated, weights_only=True)
    assert torch.equal(inflated["0.weight"], torch.load(plain, weights_only=True)["0.weight"])


def _with_storage(tmp_path: Path, floats: int) -> Path:
    """The conv's weight saved as a view of a storage of ``floats`` float32 values:
    ``torch.save`` writes the whole storage."""
    storage = torch.zeros(floats)
    return _saved(tmp_path, {"0.weight": storage[:108].view(4, 3, 3, 3)})


def test_a_storage_larger_than_the_network_is_refused_unread(tmp_path: Path, no_read) -> None:
    # Every other storage of the file holds 4 floats (16 bytes) or the int64 (8 bytes).
    others = 5 * 16 + 8
    path = _with_storage(tmp_path, (TENSOR_BOUND - others) // 4 + 1)
    with pytest.raises(WeightsError) as caught:
        read_state_dict(path, _net())
    assert str(caught.value) == (
        f"cannot read weights {path} (its tensor records hold {TENSOR_BOUND + 4} bytes, more "
        f"than the {TENSOR_BOUND} a state_dict of this network can (2x its {NET_BYTES} bytes "
        "+ 1048576 bytes))"
    )


def test_a_storage_at_the_bound_is_read(tmp_path: Path) -> None:
    others = 5 * 16 + 8
    path = _with_storage(tmp_path, (TENSOR_BOUND - others) // 4)
    net = _net()
    load_weights_file(net, path)
    assert torch.equal(net.state_dict()["0.weight"], torch.zeros(4, 3, 3, 3))


def _claim(path: Path, name: str, size: int) -> None:
    """Make the central directory say entry ``name`` holds ``size`` bytes (stored)."""
    with zipfile.ZipFile(path) as archive:
        start = max(info.header_offset for info in archive.infolist())
    data = bytearray(path.read_bytes())
    position = data.index(b"PK\x01\x02", start)
    while data[position : position + 4] == b"PK\x01\x02":
        lengths = struct.unpack_from("<HHH", data, position + 28)
        if data[position + 46 : position + 46 + lengths[0]].decode() == name:
            struct.pack_into("<II", data, position + 20, size, size)
        position += 46 + sum(lengths)
    path.write_bytes(bytes(data))


def test_a_record_claiming_gigabytes_is_refused_unread(tmp_path: Path, no_read) -> None:
    path = _saved(tmp_path)
    size, name = path.stat().st_size, _entry(path, "/data/0")
    _claim(path, name, 3 << 30)
    with pytest.raises(WeightsError) as caught:
        read_state_dict(path, _net())
    assert str(caught.value) == (
        f"cannot read weights {path} (zip entry {name} claims {3 << 30} bytes of a "
        f"{size}-byte file)"
    )


def test_a_large_record_beside_the_tensors_is_refused_unread(tmp_path: Path, no_read) -> None:
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as archive:
        other = sum(i.file_size for i in archive.infolist() if "/data/" not in i.filename)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(_entry(path, "/data.pkl").replace("data.pkl", "notes"), b"x" * 80_000)
    bound = (64 << 10) + 7 * 1024
    with pytest.raises(WeightsError) as caught:
        read_state_dict(path, _net())
    assert str(caught.value) == (
        f"cannot read weights {path} (its records other than tensors hold {other + 80_000} "
        f"bytes, more than the {bound} a state_dict of this network needs)"
    )


def test_a_legacy_or_foreign_file_is_unreadable(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy.pt"
    torch.save(_net().state_dict(), legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(WeightsError, match=r"^cannot read weights .*legacy\.pt \(not a zip"):
        read_state_dict(legacy, _net())
    with pytest.raises(WeightsError, match="^weights file not found"):
        read_state_dict(tmp_path / "absent.pt", _net())


def test_a_conversion_that_does_not_fit_is_one_line(tmp_path: Path) -> None:
    path = _saved(tmp_path)

    def reshape(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**state, "0.weight": state["0.weight"].reshape(5, 7)}

    with pytest.raises(WeightsError, match=rf"^weights {path} do not fit the network: shape"):
        load_weights_file(_net(), path, convert=reshape)
