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
