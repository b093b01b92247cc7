"""Training presets: one set per device class for each generative family, and estimates from what was
measured."""

import pytest

from core.gan.settings import PRESETS as GAN_PRESETS
from core.presets import (
    BEST,
    DEFAULT_PRESET,
    GOOD,
    QUICK_LOOK,
    Preset,
    StepShape,
    device_class,
    seconds_per_step,
)
from core.style.settings import FAST_STYLE_PRESETS
from core.vae.settings import PRESETS as VAE_PRESETS

FAMILIES = {"gan": GAN_PRESETS, "vae": VAE_PRESETS, "fast style": FAST_STYLE_PRESETS}


def work(preset: Preset) -> float:
    return preset.steps * preset.shape.cost


@pytest.mark.parametrize("presets", FAMILIES.values(), ids=FAMILIES.keys())
def test_each_device_class_has_quick_look_good_and_best_in_rising_cost(
    presets: dict[str, tuple[Preset, ...]],
) -> None:
    for kind in ("cpu", "gpu"):
        assert [p.name for p in presets[kind]] == [QUICK_LOOK, GOOD, BEST]
        costs = [work(p) for p in presets[kind]]
        assert costs == sorted(costs)
        assert len(set(costs)) == 3
    # A GPU's presets are bigger: its quick look is already more work than a CPU's
    assert work(presets["gpu"][0]) > work(presets["cpu"][0])
    assert presets["gpu"] != presets["cpu"]


def test_the_default_preset_fits_the_device() -> None:
    assert DEFAULT_PRESET[device_class("cpu")] == QUICK_LOOK
    assert device_class("cuda") == device_class("mps") == "gpu"
    assert DEFAULT_PRESET["gpu"] in {p.name for p in GAN_PRESETS["gpu"]}


def test_an_estimate_is_measured_or_scaled_from_the_nearest_measured_shape() -> None:
    small, double, wide = StepShape(32, 32, 16), StepShape(32, 64, 16), StepShape(32, 64, 64)
    assert seconds_per_step(small, {}) is None
    assert seconds_per_step(small, {small: 0.2}) == 0.2
    assert seconds_per_step(double, {small: 0.2}) == pytest.approx(0.4)  # twice the batch: twice the time
    # scaled from the nearer of two (double, not small): 4x the width, 4 ** 1.5 the cost
    assert seconds_per_step(wide, {small: 0.2, double: 0.5}) == pytest.approx(0.5 * 8)
    assert StepShape(256, 4).key == "256px-b4"
    assert double.key == "32px-b64-w16"
