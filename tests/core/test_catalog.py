"""Renaming and deleting trained models (the model picker's context menu does this): a run's folder or a
model's file, never anything outside the models folder, never over an existing name."""

from pathlib import Path

import pytest

from core.catalog import check_model_name, delete_model, model_location, rename_model
from core.errors import UserError


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    (folder / "fashion-mnist-32px-20260412-101500").mkdir(parents=True)
    (folder / "fashion-mnist-32px-20260412-101500" / "gan.safetensors").write_bytes(b"gan weights")
    (folder / "fashion-mnist-32px-20260412-101500" / "notes.txt").write_text("run notes")
    (folder / "mosaic.safetensors").write_bytes(b"style weights")
    return folder


def test_a_training_run_is_its_folder_and_a_style_network_its_file(models: Path) -> None:
    run = models / "fashion-mnist-32px-20260412-101500"
    assert model_location(run / "gan.safetensors", models) == run
    assert model_location(models / "mosaic.safetensors", models) == models / "mosaic.safetensors"
    # a file named after its kind right in the models folder is only that file, never the folder
    (models / "vae.safetensors").write_bytes(b"vae")
    assert model_location(models / "vae.safetensors", models) == models / "vae.safetensors"


def test_nothing_outside_the_models_folder_is_touched(models: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "gan.safetensors"
    outside.parent.mkdir()
    outside.write_bytes(b"x")
    with pytest.raises(UserError, match="not in the models folder"):
        model_location(outside, models)
    with pytest.raises(UserError, match="not in the models folder"):
        rename_model(outside, "mine", models)
    with pytest.raises(UserError, match="not in the models folder"):
        delete_model(outside, models)
    assert outside.read_bytes() == b"x"


def test_renaming_a_run_renames_its_folder_with_everything_in_it(models: Path) -> None:
    old = models / "fashion-mnist-32px-20260412-101500"
    new_path = rename_model(old / "gan.safetensors", "  coats and boots ", models)
    assert new_path == models / "coats and boots" / "gan.safetensors"
    assert new_path.read_bytes() == b"gan weights"
    assert (new_path.parent / "notes.txt").read_text() == "run notes"
    assert not old.exists()


def test_renaming_a_style_network_renames_its_file(models: Path) -> None:
    new_path = rename_model(models / "mosaic.safetensors", "stained glass", models)
    assert new_path == models / "stained glass.safetensors"
    assert new_path.read_bytes() == b"style weights"
    assert not (models / "mosaic.safetensors").exists()
    # typing the suffix too names the same file
    assert rename_model(new_path, "glass.safetensors", models) == models / "glass.safetensors"


@pytest.mark.parametrize("taken", ["folder", "file", "checkpoint"])
def test_a_name_in_use_is_refused_and_nothing_is_replaced(models: Path, taken: str) -> None:
    run = models / "fashion-mnist-32px-20260412-101500"
    if taken == "folder":
        (models / "keep" / "sub").mkdir(parents=True)
        (models / "keep" / "sub" / "vae.safetensors").write_bytes(b"other run")
        source, name, kept = run / "gan.safetensors", "keep", models / "keep" / "sub" / "vae.safetensors"
    elif taken == "file":  # a file of that name blocks a folder's rename too
        (models / "keep").write_bytes(b"a file")
        source, name, kept = run / "gan.safetensors", "keep", models / "keep"
    else:
        (models / "keep.safetensors").write_bytes(b"another network")
        source, name, kept = models / "mosaic.safetensors", "keep", models / "keep.safetensors"
    before = kept.read_bytes()
    with pytest.raises(UserError, match="already there"):
        rename_model(source, name, models)
    assert kept.read_bytes() == before
    assert source.exists()


def test_an_empty_folder_of_that_name_is_not_replaced_either(models: Path) -> None:
    """POSIX rename() would silently replace an empty folder: the check refuses first."""
    (models / "empty").mkdir()
    with pytest.raises(UserError, match="already there"):
        rename_model(models / "fashion-mnist-32px-20260412-101500" / "gan.safetensors", "empty", models)
    assert (models / "fashion-mnist-32px-20260412-101500" / "gan.safetensors").exists()


def test_renaming_to_its_own_name_changes_nothing(models: Path) -> None:
    path = models / "mosaic.safetensors"
    assert rename_model(path, "mosaic", models) == path
    assert path.read_bytes() == b"style weights"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "Type a name"),
        ("   ", "Type a name"),
        ("../escape", "start with a dot"),
        ("a/b", "cannot hold /"),
        ("a\\b", "cannot hold \\\\"),
        ("what?", "cannot hold \\?"),
        ("tab\there", "U\\+0009"),
        (".hidden", "start with a dot"),
        ("trailing.", "end with a dot"),
        ("x" * 201, "too long"),
    ],
)
def test_names_that_cannot_be_file_names_are_refused(models: Path, name: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        check_model_name(name)
    with pytest.raises(UserError, match=why):
        rename_model(models / "mosaic.safetensors", name, models)
    assert (models / "mosaic.safetensors").exists()


def test_a_style_network_cannot_take_a_kinds_name(models: Path) -> None:
    """<kind>.safetensors is named after its folder: "gan" would turn the network into "models"."""
    with pytest.raises(UserError, match="reserved"):
        rename_model(models / "mosaic.safetensors", "gan", models)
    # a run's folder may be called anything
    renamed = rename_model(models / "fashion-mnist-32px-20260412-101500" / "gan.safetensors", "gan", models)
    assert renamed == models / "gan" / "gan.safetensors"


def test_delete_removes_a_run_folder_or_a_file_and_nothing_else(models: Path) -> None:
    run = models / "fashion-mnist-32px-20260412-101500"
    assert delete_model(run / "gan.safetensors", models) == run
    assert not run.exists()
    assert delete_model(models / "mosaic.safetensors", models) == models / "mosaic.safetensors"
    assert models.is_dir()
    assert list(models.iterdir()) == []
