import json
from pathlib import Path

import numpy as np
import pytest
import torch

from forecasting.intervals import interval
from models.artifact import ArtifactError, load_artifact, read_card
from models.card_io import SentimentIO
from tests.helpers import write_tiny_forecast_artifact, write_tiny_sentiment_artifact


@pytest.fixture
def artifact_dir(tmp_path: Path) -> Path:
    return write_tiny_sentiment_artifact(tmp_path)


def edit_card(directory: Path, **changes: object) -> None:
    card = json.loads((directory / "card.json").read_text())
    card.update(changes)
    (directory / "card.json").write_text(json.dumps(card))


def test_round_trip_gives_identical_predictions(artifact_dir: Path) -> None:
    first, second = load_artifact(artifact_dir), load_artifact(artifact_dir)
    token_ids, lengths = torch.tensor([[2, 3, 4, 0], [5, 6, 7, 8]]), torch.tensor([3, 4])
    assert torch.equal(first.model(token_ids, lengths), second.model(token_ids, lengths))
    assert not first.model.training
    assert first.card.name == "sentiment" and first.card.format == 1
    assert first.tokenizer is not None and first.tokenizer.token_to_id("<pad>") == 0


def test_write_replaces_previous_artifact_and_leaves_no_staging_folder(tmp_path: Path) -> None:
    write_tiny_sentiment_artifact(tmp_path)
    write_tiny_sentiment_artifact(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sentiment"]
    assert sorted(p.name for p in (tmp_path / "sentiment").iterdir()) == [
        "card.json",
        "curves.png",
        "tokenizer.json",
        "weights.safetensors",
    ]


def test_a_replaced_artifact_is_never_half_deleted_where_it_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old folder is moved aside before the new one comes in, and deleted only then: whenever a folder has
    just been deleted, the served path holds a whole artifact."""
    import models.artifact as artifact_module

    write_tiny_sentiment_artifact(tmp_path)
    real_rmtree = artifact_module.shutil.rmtree
    served_during_deletes: list[list[str]] = []

    def watching_rmtree(path: Path, *args: object, **kwargs: object) -> None:
        real_rmtree(path)
        served = tmp_path / "sentiment"
        served_during_deletes.append(sorted(p.name for p in served.iterdir()) if served.exists() else [])

    monkeypatch.setattr(artifact_module.shutil, "rmtree", watching_rmtree)
    write_tiny_sentiment_artifact(tmp_path)
    assert served_during_deletes and all("weights.safetensors" in names for names in served_during_deletes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sentiment"]  # no hidden folder left behind


def test_pictures_are_not_required(artifact_dir: Path) -> None:
    (artifact_dir / "curves.png").unlink()
    assert load_artifact(artifact_dir).card.task == "sentiment"


@pytest.mark.parametrize("missing", ["card.json", "weights.safetensors", "tokenizer.json"])
def test_missing_required_file_is_named(artifact_dir: Path, missing: str) -> None:
    (artifact_dir / missing).unlink()
    with pytest.raises(ArtifactError, match=f"'sentiment'.*missing required file {missing}"):
        load_artifact(artifact_dir)


def test_corrupt_json_is_reported(artifact_dir: Path) -> None:
    (artifact_dir / "card.json").write_text('{"format": 1, "name": ')
    with pytest.raises(ArtifactError, match="card.json is not valid JSON"):
        load_artifact(artifact_dir)


def test_unknown_format_version_is_reported(artifact_dir: Path) -> None:
    edit_card(artifact_dir, format=2)
    with pytest.raises(ArtifactError, match="unknown format version 2"):
        read_card(artifact_dir)


def test_unknown_arch_type_is_reported(artifact_dir: Path) -> None:
    card = json.loads((artifact_dir / "card.json").read_text())
    edit_card(artifact_dir, arch={**card["arch"], "type": "Transformer"})
    with pytest.raises(ArtifactError, match="unknown arch.type 'Transformer'"):
        load_artifact(artifact_dir)


def test_weights_that_do_not_match_the_card_are_named(artifact_dir: Path) -> None:
    card = json.loads((artifact_dir / "card.json").read_text())
    edit_card(artifact_dir, arch={**card["arch"], "hidden_size": 16})
    with pytest.raises(
        ArtifactError,
        match=r"'sentiment': weights do not match the card: .*forward_layers.0.weight_hh_l0 has shape",
    ):
        load_artifact(artifact_dir)


def test_missing_tensors_are_named(artifact_dir: Path) -> None:
    card = json.loads((artifact_dir / "card.json").read_text())
    edit_card(artifact_dir, arch={**card["arch"], "num_layers": 2})
    with pytest.raises(ArtifactError, match=r"missing tensors \['backward_layers.1"):
        load_artifact(artifact_dir)


def test_unknown_arch_argument_is_reported(artifact_dir: Path) -> None:
    card = json.loads((artifact_dir / "card.json").read_text())
    edit_card(artifact_dir, arch={**card["arch"], "heads": 4})
    with pytest.raises(ArtifactError, match="arch does not fit SentimentClassifier"):
        load_artifact(artifact_dir)


def test_card_missing_a_field_is_reported(artifact_dir: Path) -> None:
    card = json.loads((artifact_dir / "card.json").read_text())
    del card["version"]
    (artifact_dir / "card.json").write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="card.json is invalid: version: Field required"):
        read_card(artifact_dir)


def test_corrupt_weights_file_is_reported(artifact_dir: Path) -> None:
    (artifact_dir / "weights.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ArtifactError, match="weights.safetensors cannot be read"):
        load_artifact(artifact_dir)


def test_card_io_is_typed_by_task(artifact_dir: Path) -> None:
    io = read_card(artifact_dir).io
    assert isinstance(io, SentimentIO) and io.max_length == 64 and io.truncation in ("pre", "post")


def test_card_io_missing_or_wrong_fields_name_the_model_and_the_field(artifact_dir: Path) -> None:
    card = json.loads((artifact_dir / "card.json").read_text())
    io = {key: value for key, value in card["io"].items() if key != "max_length"}
    edit_card(artifact_dir, io={**io, "truncation": "middle"})
    with pytest.raises(
        ArtifactError,
        match=r"'sentiment': card.json is invalid: io.max_length: Field required; io.truncation",
    ):
        read_card(artifact_dir)


def test_forecast_io_must_agree_with_itself(tmp_path: Path) -> None:
    directory = write_tiny_forecast_artifact(tmp_path, "forecast-x", ["value"], "value", max_horizon=4)
    card = json.loads((directory / "card.json").read_text())
    edit_card(directory, io={**card["io"], "target": "sales"})
    with pytest.raises(ArtifactError, match="'forecast-x'.*io: target 'sales' is not one of the features"):
        read_card(directory)
    edit_card(directory, io={**card["io"], "quantiles": {"0.9": [1.0]}})
    with pytest.raises(ArtifactError, match=r"quantiles\['0.9'\] has 1 offsets for max_horizon 4"):
        read_card(directory)


def test_one_interval_formula_serves_training_and_serving() -> None:
    forecast, scale = np.array([[10.0, 20.0, 30.0]]), np.array([2.0])
    assert interval(forecast, scale, [1.0, -1.0, 0.5, 99.0]).tolist() == [[12.0, 18.0, 31.0]]
