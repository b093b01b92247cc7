import json
import struct
from pathlib import Path

import pytest
import torch

from core.catalog import Family, scan_models
from core.checkpoints import FORMAT_VERSION, ModelKind, load_checkpoint, read_info, save_checkpoint
from core.errors import CheckpointError


def weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"conv.weight": torch.randn(8, 3, 3, 3), "conv.bias": torch.randn(8), "steps": torch.tensor(7)}


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "gan.safetensors"
    save_checkpoint(
        path, weights(), kind=ModelKind.GAN, arch="dcgan-v1", config={"size": 64}, training={"step": 1200}
    )
    tensors, info = load_checkpoint(path, ModelKind.GAN)
    assert set(tensors) == set(weights())
    for name, tensor in weights().items():
        assert torch.equal(tensors[name], tensor)
    assert (info.kind, info.arch, info.config, info.training) == (
        ModelKind.GAN,
        "dcgan-v1",
        {"size": 64},
        {"step": 1200},
    )
    assert info.format_version == FORMAT_VERSION
    assert info.created


def test_header_is_read_without_weights(tmp_path: Path) -> None:
    path = tmp_path / "vae.safetensors"
    save_checkpoint(path, weights(), kind=ModelKind.VAE, arch="conv-vae-v1")
    data = path.read_bytes()
    path.write_bytes(data[: 8 + struct.unpack("<Q", data[:8])[0]])  # the weights cut off: the header alone
    assert read_info(path).kind is ModelKind.VAE


def test_wrong_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gan.safetensors"
    save_checkpoint(path, weights(), kind=ModelKind.GAN, arch="dcgan-v1")
    with pytest.raises(CheckpointError, match="is a GAN checkpoint, not a VAE"):
        load_checkpoint(path, ModelKind.VAE)


def test_newer_format_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "future.safetensors"
    meta = {"kind": "gan", "arch": "x", "format_version": FORMAT_VERSION + 1, "app_version": "9.0"}
    save_file(weights(), str(path), metadata={"neural_easel": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="newer Neural Easel"):
        read_info(path)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file(weights(), str(plain))
    with pytest.raises(CheckpointError, match="not one Neural Easel wrote"):
        read_info(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"PK\x03\x04 a zip, perhaps a pickle")
    with pytest.raises(CheckpointError, match="not a Neural Easel checkpoint"):
        load_checkpoint(junk)
    huge_header = tmp_path / "huge.safetensors"
    huge_header.write_bytes(struct.pack("<Q", 1 << 40))
    with pytest.raises(CheckpointError, match="not a Neural Easel checkpoint"):
        read_info(huge_header)


def test_damaged_weights_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    save_checkpoint(path, weights(), kind=ModelKind.GAN, arch="dcgan-v1")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path, ModelKind.GAN)


def test_failed_write_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    path = tmp_path / "model.safetensors"
    save_checkpoint(path, weights(), kind=ModelKind.GAN, arch="dcgan-v1", training={"step": 1})
    before = path.read_bytes()

    def crash_mid_write(tensors: object, filename: str, metadata: object = None) -> None:
        Path(filename).write_bytes(before[: len(before) // 2])
        raise OSError("power cut")

    monkeypatch.setattr(safetensors.torch, "save_file", crash_mid_write)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(path, weights(), kind=ModelKind.GAN, arch="dcgan-v1", training={"step": 2})
    assert path.read_bytes() == before
    assert read_info(path).training == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_catalog_lists_models_by_family_and_reports_junk(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "faces.safetensors", weights(), kind=ModelKind.GAN, arch="dcgan-v1")
    save_checkpoint(
        tmp_path / "sub" / "mosaic.safetensors", weights(), kind=ModelKind.FAST_STYLE, arch="tn-v1"
    )
    (tmp_path / "broken.safetensors").write_bytes(b"nope")
    scan = scan_models(tmp_path)
    assert {(m.name, m.family) for m in scan.models} == {("faces", Family.GAN), ("mosaic", Family.STYLE)}
    assert [p.name for p, _ in scan.unreadable] == ["broken.safetensors"]
