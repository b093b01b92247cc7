from types import SimpleNamespace

import pytest
import torch

from core import devices
from core.errors import DeviceError


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.usefixtures("two_gpus")
def test_auto_prefers_cuda_and_explicit_choices_resolve() -> None:
    assert devices.available_devices() == ["cuda:0", "cuda:1", "cpu"]
    assert devices.pick_device() == torch.device("cuda:0")
    assert devices.pick_device("cuda") == torch.device("cuda:0")
    assert devices.pick_device("CUDA:1") == torch.device("cuda:1")
    assert devices.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="'cuda:2' is not available"):
        devices.pick_device("cuda:2")


@pytest.mark.usefixtures("cpu_only")
def test_cpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert devices.pick_device("auto") == torch.device("cpu")
    with pytest.raises(DeviceError, match=r"available: cpu"):
        devices.pick_device("cuda")
    with pytest.raises(DeviceError, match="Unknown device 'tpu'"):
        devices.pick_device("tpu")
    monkeypatch.setenv(devices.ENV_VAR, "mps")
    with pytest.raises(DeviceError, match="'mps' is not available"):
        devices.pick_device()
    assert devices.pick_device("cpu") == torch.device("cpu")  # an explicit choice beats the variable
    assert devices.describe(torch.device("cpu")).startswith("CPU")


@pytest.mark.parametrize("has_bf16", [True, False])
def test_bf16_and_nhwc_only_where_the_hardware_has_them(
    monkeypatch: pytest.MonkeyPatch, has_bf16: bool
) -> None:
    cpu = torch.device("cpu")
    monkeypatch.delenv(devices.PRECISION_VAR, raising=False)
    for check in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.setattr(torch.cpu, check, lambda: has_bf16)
    devices._hardware_bf16.cache_clear()
    try:
        assert devices.native_bf16(cpu) is has_bf16
        with devices.autocast(cpu):
            product = torch.ones(2, 2) @ torch.ones(2, 2)
        assert product.dtype == (torch.bfloat16 if has_bf16 else torch.float32)
        assert devices.memory_format(cpu) == (torch.channels_last if has_bf16 else torch.contiguous_format)
        assert not devices.native_bf16(torch.device("mps"))
        assert ("bf16" in devices.describe(cpu)) is has_bf16  # the status bar says which
        monkeypatch.setenv(devices.PRECISION_VAR, "fp32")
        assert not devices.native_bf16(cpu)
    finally:
        devices._hardware_bf16.cache_clear()  # the next test sees this machine's own answer


@pytest.mark.parametrize(("major", "has_bf16"), [(7, False), (8, True), (9, True)])
def test_only_gpus_with_bf16_tensor_cores_get_bf16(
    monkeypatch: pytest.MonkeyPatch, major: int, has_bf16: bool
) -> None:
    """A T4 or V100 (compute capability 7) only emulates bf16: it stays in fp32."""
    monkeypatch.delenv(devices.PRECISION_VAR, raising=False)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: SimpleNamespace(major=major))
    devices._hardware_bf16.cache_clear()
    try:
        assert devices.native_bf16(torch.device("cuda:0")) is has_bf16
    finally:
        devices._hardware_bf16.cache_clear()
