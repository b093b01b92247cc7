import numpy as np
import pytest
from PIL import Image

from core.errors import UserError
from core.images import to_array
from core.jobs import CancelToken, Event, Progress, run_job
from core.style import colour
from core.style.colour import ColourTransferJob, rgb_to_lab
from tests.conftest import gradient_image

CONTENT = gradient_image(160, 120)
# A palette whose statistics differ strongly from the content's but stay clear of clipping.
PALETTE = gradient_image(90, 110, tint=(0.9, 0.45, 0.3)).transpose(Image.Transpose.ROTATE_90)


def transfer(mode: str, strength: float = 1.0, content: Image.Image = CONTENT) -> Image.Image:
    outcome = run_job(ColourTransferJob(content, PALETTE, mode, strength))  # type: ignore[arg-type]
    assert outcome.result is not None
    return outcome.result.image


def lab_stats(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    lab = rgb_to_lab(to_array(image)).reshape(-1, 3)
    return lab.mean(axis=0), lab.std(axis=0)


def test_reinhard_moves_channel_means_and_stds_to_the_palette() -> None:
    result_mean, result_std = lab_stats(transfer("reinhard"))
    palette_mean, palette_std = lab_stats(PALETTE)
    content_mean, _ = lab_stats(CONTENT)
    assert np.abs(content_mean - palette_mean).max() > 0.05  # the test would notice a no-op
    np.testing.assert_allclose(result_mean, palette_mean, atol=0.01)
    np.testing.assert_allclose(result_std, palette_std, rtol=0.1)


def test_covariance_matches_rgb_mean_and_covariance() -> None:
    result = to_array(transfer("covariance")).reshape(-1, 3)
    palette = to_array(PALETTE).reshape(-1, 3)
    np.testing.assert_allclose(result.mean(axis=0), palette.mean(axis=0), atol=0.01)
    np.testing.assert_allclose(np.cov(result.T), np.cov(palette.T), atol=0.003)


def test_luminance_mode_keeps_the_pictures_colours() -> None:
    result_mean, result_std = lab_stats(transfer("luminance"))
    content_mean, content_std = lab_stats(CONTENT)
    palette_mean, palette_std = lab_stats(PALETTE)
    np.testing.assert_allclose(result_mean[0], palette_mean[0], atol=0.01)
    np.testing.assert_allclose(result_std[0], palette_std[0], rtol=0.1)
    np.testing.assert_allclose(result_mean[1:], content_mean[1:], atol=0.01)  # chroma unchanged
    np.testing.assert_allclose(result_std[1:], content_std[1:], rtol=0.1)


def test_strength_blends_with_the_original() -> None:
    assert np.array_equal(np.asarray(transfer("reinhard", 0.0)), np.asarray(CONTENT))
    full, half = to_array(transfer("reinhard")), to_array(transfer("reinhard", 0.5))
    # Equal up to rounding, and to the few pixels where the full transfer was clipped at 0 or 1.
    np.testing.assert_allclose(half, (to_array(CONTENT) + full) / 2, atol=5 / 255)


def test_banded_result_equals_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    single = np.asarray(transfer("reinhard"))
    monkeypatch.setattr(colour, "BAND_PIXELS", 160 * 7)  # content: 7-row bands, the last one short
    events: list[Event] = []
    outcome = run_job(ColourTransferJob(CONTENT, PALETTE, "reinhard"), events.append)
    assert outcome.result is not None
    assert np.array_equal(np.asarray(outcome.result.image), single)
    last = [e for e in events if isinstance(e, Progress)][-1]
    # 120 content rows in 18 bands, measured and then recoloured; 90 palette rows (110 wide) in 9.
    assert last.step == last.total == 18 + 9 + 18


def test_cancel_stops_within_one_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(colour, "BAND_PIXELS", 160 * 4)
    token = CancelToken()
    steps_after_cancel: list[int] = []

    def sink(event: Event) -> None:
        if isinstance(event, Progress):
            if token.cancelled:
                steps_after_cancel.append(event.step)
            token.cancel()

    outcome = run_job(ColourTransferJob(CONTENT, PALETTE), sink, token)
    assert outcome.cancelled
    assert outcome.result is None
    assert steps_after_cancel == []


def test_flat_picture_does_not_produce_nan() -> None:
    flat = Image.new("RGB", (32, 32), (120, 80, 40))
    for mode in colour.COLOUR_MODES:
        assert np.isfinite(to_array(transfer(mode, content=flat))).all()


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UserError, match="Unknown colour mode"):
        ColourTransferJob(CONTENT, PALETTE, "sepia")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="between 0 and 1"):
        ColourTransferJob(CONTENT, PALETTE, strength=1.5)
