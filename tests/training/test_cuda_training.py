"""One short epoch of each trainer on CUDA writes an artifact that loads (marked `gpu`; `make test-gpu`)."""

from pathlib import Path

import pytest

from models.artifact import load_artifact
from tests.helpers import write_imdb_jsonl, write_ptb_corpus
from training.cli import main

pytestmark = pytest.mark.gpu


def check_trained_on_cuda(out: Path) -> None:
    artifact = load_artifact(out)
    assert artifact.card.training["device"].startswith("cuda")
    assert artifact.card.training["epochs_run"] == 1


def test_sentiment_trains_one_epoch_on_cuda(tmp_path: Path) -> None:
    data = write_imdb_jsonl(tmp_path / "imdb")
    main(
        [
            "sentiment",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cuda",
            "--epochs",
            "1",
            "--embedding-dim",
            "8",
            "--hidden-size",
            "8",
            "--max-length",
            "32",
        ]
    )
    check_trained_on_cuda(tmp_path / "out")


def test_language_model_trains_one_epoch_on_cuda(tmp_path: Path) -> None:
    data = write_ptb_corpus(tmp_path / "ptb")
    main(
        [
            "lm",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cuda",
            "--epochs",
            "1",
            "--hidden-size",
            "16",
            "--batch-size",
            "4",
            "--bptt",
            "8",
        ]
    )
    check_trained_on_cuda(tmp_path / "out")


@pytest.mark.parametrize("multi_step", ["direct", "recursive"])
def test_forecaster_trains_one_epoch_on_cuda(tmp_path: Path, multi_step: str) -> None:
    main(
        [
            "forecast",
            "--preset",
            "sine",
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cuda",
            "--epochs",
            "1",
            "--multi-step",
            multi_step,
            "--context",
            "40",
            "--horizon",
            "20",
            "--steps-per-epoch",
            "3",
            "--hidden-size",
            "8",
            "--batch-size",
            "8",
            "--rollout-start",
            "10",
        ]
    )
    check_trained_on_cuda(tmp_path / "out")
