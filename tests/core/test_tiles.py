import itertools

import pytest
import torch
from torch import Tensor, nn

from core.images import to_tensor
from core.jobs import JobCancelled
from core.style.tiles import Tile, TileBlender, feather_weights, map_tiles, plan_tiles
from tests.conftest import gradient_image

# (height, width, tile, overlap): multiples of the stride and not, one axis single-tiled, no overlap.
PLANS = [(4096, 4096, 1024, 64), (200, 300, 64, 8), (131, 257, 64, 16), (50, 500, 64, 8), (97, 101, 32, 0)]


def axis_spans(tiles: list[Tile]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The distinct (start, size) of the tiles along rows and along columns, sorted."""
    rows = sorted({(t.top, t.height) for t in tiles})
    cols = sorted({(t.left, t.width) for t in tiles})
    return rows, cols


@pytest.mark.parametrize(("height", "width", "tile", "overlap"), PLANS)
def test_plan_covers_every_pixel_with_bounded_evenly_spaced_overlapping_tiles(
    height: int, width: int, tile: int, overlap: int
) -> None:
    tiles = plan_tiles(height, width, tile, overlap)
    coverage = torch.zeros(height, width, dtype=torch.int32)
    for t in tiles:
        assert 0 < t.height <= tile
        assert 0 < t.width <= tile
        assert t.top >= 0
        assert t.left >= 0
        assert t.top + t.height <= height
        assert t.left + t.width <= width
        t.region(coverage).add_(1)
    assert coverage.min() >= 1
    rows, cols = axis_spans(tiles)
    assert len(tiles) == len(rows) * len(cols)  # a grid
    for spans, length in ((rows, height), (cols, width)):
        assert len({size for _, size in spans}) == 1  # one size: no sliver at the end
        starts = [start for start, _ in spans]
        size = spans[0][1]
        strides = [b - a for a, b in itertools.pairwise(starts)]
        if strides:
            assert max(strides) - min(strides) <= 1  # evenly spaced
            assert size - max(strides) >= overlap  # every neighbour overlaps by at least `overlap`
        # The fewest tiles: one fewer of the largest size cannot cover the axis.
        assert (len(spans) - 1) * tile - max(len(spans) - 2, 0) * overlap < length


def test_an_image_that_fits_is_a_single_tile() -> None:
    assert plan_tiles(100, 80, 128, 16) == [Tile(0, 0, 100, 80)]
    assert plan_tiles(128, 128, 128, 16) == [Tile(0, 0, 128, 128)]
    assert len(plan_tiles(128, 129, 128, 16)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((100, 100, 64, -1), "0 or more"),
        ((100, 100, 32, 16), "more than twice the overlap"),
        ((100, 100, 0, 0), "more than twice the overlap"),
        ((0, 100, 64, 8), "100 x 0"),
    ],
)
def test_bad_plan_arguments_raise_a_clear_error(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_tiles(*args)


@pytest.mark.parametrize(("height", "width", "tile", "overlap"), PLANS[1:])
def test_feather_weights_are_a_partition_of_unity_and_flat_at_the_border(
    height: int, width: int, tile: int, overlap: int
) -> None:
    tiles = plan_tiles(height, width, tile, overlap)
    weight_sum = torch.zeros(1, 1, height, width, dtype=torch.float64)
    for t in tiles:
        weights = feather_weights(t, height, width, overlap, dtype=torch.float64)
        assert weights.shape == (1, 1, t.height, t.width)
        assert weights.min() > 0
        assert weights.max() <= 1
        t.region(weight_sum).add_(weights)
    # Where an overlap is exactly `overlap` px the falling and rising ramps sum to 1; where even spacing made
    # it 1 px wider they sum to a little more. Never less: no pixel is left to a near-zero weight.
    assert weight_sum.min() >= 1 - 1e-12
    total = torch.zeros_like(weight_sum)
    for t in tiles:
        weights = feather_weights(t, height, width, overlap, dtype=torch.float64)
        t.region(total).add_(weights / t.region(weight_sum))
    torch.testing.assert_close(total, torch.ones_like(total))


def test_weights_are_one_away_from_neighbours_and_near_zero_at_a_shared_edge() -> None:
    height, width, overlap = 131, 257, 16
    first = plan_tiles(height, width, 64, overlap)[0]
    weights = feather_weights(first, height, width, overlap)[0, 0]
    assert first.top == first.left == 0  # the top-left tile: image border above and to the left
    inner_h, inner_w = first.height - overlap, first.width - overlap
    assert torch.equal(weights[:inner_h, :inner_w], torch.ones(inner_h, inner_w))  # flat at the border
    assert weights[:inner_h, -1].max() < 0.01  # ~0 at the edge shared with the right neighbour
    assert weights[-1, :inner_w].max() < 0.01  # and with the one below
    ramp = weights[0, inner_w:]
    assert (ramp.diff() < 0).all()  # a smooth, monotone fall across the overlap
    single = Tile(0, 0, 40, 50)
    assert torch.equal(feather_weights(single, 40, 50, overlap), torch.ones(1, 1, 40, 50))


@pytest.mark.parametrize(("height", "width"), [(128, 176), (131, 257), (50, 40)])
def test_identity_and_pointwise_functions_come_back_exactly(height: int, width: int) -> None:
    image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(map_tiles(lambda x: x, image, 64, 8), image, atol=1e-6, rtol=0)

    def pointwise(x: Tensor) -> Tensor:
        """Changes the channel count too: C = 3 -> C' = 4."""
        return torch.cat([x * 2 + 1, x.mean(dim=1, keepdim=True)], dim=1)

    torch.testing.assert_close(map_tiles(pointwise, image, 64, 8), pointwise(image), atol=1e-6, rtol=0)
    original = image.clone()
    in_place = map_tiles(lambda x: x.mul_(2), image, 64, 8)  # must not double the neighbours' overlap
    torch.testing.assert_close(in_place, original * 2, atol=1e-6, rtol=0)
    assert torch.equal(image, original)


def seam_lines(tiles: list[Tile], height: int, width: int) -> tuple[set[int], set[int]]:
    """Rows and columns where a tile edge lies inside the image (pixel index just past the edge)."""
    rows = {e for t in tiles for e in (t.top, t.top + t.height) if 0 < e < height}
    cols = {e for t in tiles for e in (t.left, t.left + t.width) if 0 < e < width}
    return rows, cols


def test_a_conv_net_tiles_without_seams() -> None:
    torch.manual_seed(0)
    # Two 3x3 convs: a receptive-field radius of 2 px, well inside the 16 px overlap.
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)).eval()
    height, width, tile, overlap, radius = 150, 170, 64, 16, 2
    image = to_tensor(gradient_image(width, height))  # smooth, so a seam would stand out
    with torch.inference_mode():
        whole = net(image)
        tiled = map_tiles(net, image, tile, overlap)
        hard = map_tiles(net, image, tile, 0)  # abutting tiles, no blending: the seams the test must see
    tiles = plan_tiles(height, width, tile, overlap)
    rows, cols = seam_lines(tiles, height, width)
    near_seam = torch.zeros(height, width, dtype=torch.bool)
    for r in rows:
        near_seam[max(r - radius, 0) : r + radius, :] = True
    for c in cols:
        near_seam[:, max(c - radius, 0) : c + radius] = True
    away = ~near_seam.expand_as(whole[0])
    torch.testing.assert_close(tiled[0][away], whole[0][away], atol=1e-5, rtol=0)
    assert (tiled - whole).abs().max() < 5e-3  # even at the seams only a whisper of the padding remains

    def steps(x: Tensor, lines: set[int], dim: int) -> Tensor:
        """Max |x[line] - x[line - 1]| along `dim` (2 rows, 3 columns), per seam line."""
        return torch.stack([(x.select(dim, i) - x.select(dim, i - 1)).abs().max() for i in sorted(lines)])

    # Per seam line, not against the image's overall largest step: the zero-padded image border alone
    # steps by more than a hard seam does here.
    margin = 1e-3
    for dim, lines in ((2, rows), (3, cols)):
        assert (steps(tiled, lines, dim) <= steps(whole, lines, dim) + margin).all()
    hard_rows, hard_cols = seam_lines(plan_tiles(height, width, tile, 0), height, width)
    for dim, lines in ((2, hard_rows), (3, hard_cols)):
        assert (steps(hard, lines, dim) > steps(whole, lines, dim) + margin).any()


def test_should_stop_cancels_between_tiles_and_on_tile_reports_progress() -> None:
    image = torch.rand(1, 3, 100, 150)
    total = len(plan_tiles(100, 150, 64, 8))
    assert total > 2
    reports: list[tuple[int, int]] = []
    map_tiles(lambda x: x, image, 64, 8, on_tile=lambda done, n: reports.append((done, n)))
    assert reports == [(done, total) for done in range(1, total + 1)]

    calls: list[Tensor] = []

    def fn(x: Tensor) -> Tensor:
        calls.append(x)
        return x

    with pytest.raises(JobCancelled):
        map_tiles(fn, image, 64, 8, should_stop=lambda: len(calls) >= 2)
    assert len(calls) == 2


def test_blender_detaches_optimised_tiles_and_rejects_resized_ones() -> None:
    image = torch.rand(1, 3, 80, 90)
    tiles = plan_tiles(80, 90, 48, 8)
    blender = TileBlender(80, 90, 8)
    for t in tiles:
        blender.add(t, t.region(image).clone().requires_grad_())  # as a Gatys tile leaves its optimiser
    result = blender.result()
    assert not result.requires_grad
    assert result.device.type == "cpu"
    torch.testing.assert_close(result, image, atol=1e-6, rtol=0)
    with pytest.raises(RuntimeError, match="nothing to blend"):
        blender.result()  # handed over: the blender is empty again
    with pytest.raises(ValueError, match="keeps the spatial size"):
        map_tiles(lambda x: x[..., :-1, :], image, 48, 8)
