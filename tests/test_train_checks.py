"""Recipe/data mismatches found before the first step: clean errors (exit 2), no TF dump."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_image_folder
from train_helpers import image_data, write_csv, write_recipe

from dlcli.errors import DataError, RecipeError, RunFailure, UsageError
from dlcli.recipe import load_recipe
from dlcli.training import TrainOptions, train

MLP3 = [{"Dense": {"units": 3, "activation": "softmax"}}]


def _csv_recipe(tmp_path: Path, csv_path: Path, layers: list, **train_kw) -> Path:
    data = {"kind": "csv", "train": str(csv_path), "batch_size": 16}
    return write_recipe(tmp_path / "r.yaml", data=data, layers=layers, **train_kw)


def test_output_units_must_match_class_count(tmp_path: Path):
    # 2 classes in the CSV, 3 output units: Keras would train it without complaint; with
    # fewer units than classes the loss op fails deep inside TensorFlow instead.
    path = _csv_recipe(tmp_path, write_csv(tmp_path / "d.csv"), MLP3, epochs=1)
    with pytest.raises(RecipeError, match=r"3 unit.*2 classes"):
        train(load_recipe(path), TrainOptions(out=tmp_path / "run"))
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.parametrize(
    ("loss", "units", "message"),
    [
        ("binary_crossentropy", 1, "integer class labels"),
        ("no_such_loss", 2, "unknown loss"),
    ],
)
def test_loss_needing_one_hot_or_unknown_refused(
    tmp_path: Path, loss: str, units: int, message: str
):
    layers = [{"Dense": {"units": units, "activation": "softmax"}}]
    path = _csv_recipe(tmp_path, write_csv(tmp_path / "d.csv"), layers, epochs=1, loss=loss)
    with pytest.raises(RecipeError, match=message):
        train(load_recipe(path), TrainOptions(out=tmp_path / "run"))


def test_one_unit_for_two_classes_accepted(tmp_path: Path):
    layers = [{"Dense": {"units": 1, "activation": "sigmoid"}}]
    path = _csv_recipe(
        tmp_path, write_csv(tmp_path / "d.csv"), layers, epochs=1, loss="mse", metrics=[]
    )
    assert train(load_recipe(path), TrainOptions(out=tmp_path / "run")).epochs_run == 1


def test_single_class_refused(tmp_path: Path):
    folder = make_image_folder(tmp_path / "imgs", per_class=3, seed=1)
    for extra in sorted(p for p in folder.iterdir() if p.is_dir())[1:]:
        for f in extra.iterdir():
            f.unlink()
        extra.rmdir()
    path = write_recipe(tmp_path / "r.yaml", data=image_data(folder), epochs=1)
    with pytest.raises(DataError, match="only one class"):
        train(load_recipe(path), TrainOptions(out=tmp_path / "new" / "run"))
    # Failed before writing anything: the folders the run created are gone again...
    assert not (tmp_path / "new").exists()
    # ...but an empty folder the user made is theirs and stays.
    (tmp_path / "mine").mkdir()
    with pytest.raises(DataError, match="only one class"):
        train(load_recipe(path), TrainOptions(out=tmp_path / "mine"))
    assert (tmp_path / "mine").is_dir()


def test_resume_with_fewer_epochs_than_completed_refused(tmp_path: Path):
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    path = _csv_recipe(tmp_path, write_csv(tmp_path / "d.csv"), layers, epochs=2)
    train(load_recipe(path), TrainOptions(out=tmp_path / "run"))
    fewer = load_recipe(path, flags={"train.epochs": 1})
    with pytest.raises(UsageError, match="already completed 2 epochs"):
        train(fewer, TrainOptions(out=tmp_path / "run", resume=True))
    assert "epochs: 2" in (tmp_path / "run" / "recipe.yaml").read_text()


def test_damaged_checkpoint_named_in_a_clean_failure(tmp_path: Path):
    layers = [{"Dense": {"units": 2, "activation": "softmax"}}]
    path = _csv_recipe(tmp_path, write_csv(tmp_path / "d.csv"), layers, epochs=1)
    train(load_recipe(path), TrainOptions(out=tmp_path / "run"))
    more = load_recipe(path, flags={"train.epochs": 2})
    ckpt = tmp_path / "run" / "checkpoints"
    model_npz = next(ckpt.glob("epoch-*-model.npz"))
    model_npz.write_bytes(model_npz.read_bytes()[:50])  # truncated by a full disk
    with pytest.raises(RunFailure, match="damaged") as info:
        train(more, TrainOptions(out=tmp_path / "run", resume=True))
    assert model_npz.name in str(info.value)
    (ckpt / "state.json").write_text("{not json")
    with pytest.raises(RunFailure, match="damaged") as info:
        train(more, TrainOptions(out=tmp_path / "run", resume=True))
    assert "state.json" in str(info.value)


def test_resume_with_changed_settings_says_what_changed(tmp_path: Path):
    from dlcli.training import RunStarted

    mlp2 = [{"Dense": {"units": 2, "activation": "softmax"}}]
    path = _csv_recipe(tmp_path, write_csv(tmp_path / "d.csv"), mlp2, epochs=1)
    out = tmp_path / "run"
    train(load_recipe(path), TrainOptions(out=out))

    def warnings_of(recipe) -> list[str]:
        seen: list[str] = []
        train(
            recipe,
            TrainOptions(out=out, resume=True),
            on_event=lambda e: seen.extend(e.warnings) if isinstance(e, RunStarted) else None,
        )
        return seen

    # Only more epochs: nothing to say.
    more_epochs = load_recipe(path, flags={"train.epochs": 2})
    assert not [w for w in warnings_of(more_epochs) if "resum" in w]
    changed = load_recipe(
        path, overrides=["train.optimizer.learning_rate=0.0001"], flags={"train.epochs": 3}
    )
    notes = [w for w in warnings_of(changed) if "resuming with settings changed" in w]
    assert len(notes) == 1 and "learning_rate" in notes[0] and "0.0001" in notes[0], notes
