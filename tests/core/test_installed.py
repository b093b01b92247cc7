"""Files inside installed packages and the optional torchvision, as the frozen app finds them too."""

import sys
from pathlib import Path

import pytest

from core import installed
from core.errors import UserError


def test_package_file_is_found_without_running_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "weights_pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    (package / "models" / "net.onnx").write_bytes(b"weights")
    monkeypatch.syspath_prepend(str(tmp_path))

    found = installed.package_file("weights_pkg", "models/net.onnx")

    assert found is not None
    assert found.read_bytes() == b"weights"
    assert "weights_pkg" not in sys.modules
    assert installed.package_file("weights_pkg", "models/missing.onnx") is None
    assert installed.package_file("no_such_package_here", "models/net.onnx") is None


def test_the_real_offline_weights_packages_are_found() -> None:
    from core.classifier.backbones import _lite0_package_file
    from core.features import _offline_package_onnx

    for path in (_offline_package_onnx(), _lite0_package_file()):
        assert path is not None
        assert path.stat().st_size > 1_000_000


def test_a_missing_torchvision_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now raises ImportError
    with pytest.raises(UserError, match="The resnet18 backbone needs torchvision, which this installation"):
        installed.torchvision("The resnet18 backbone")
