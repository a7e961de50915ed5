import random
from pathlib import Path

import pytest
import torch

from models.artifact import load_artifact
from models.text import pad_batch
from tests.helpers import write_imdb_jsonl, write_imdb_tree
from training import imdb
from training.buckets import bucketed_batches, padding_share
from training.cli import main
from training.sentiment import encode
from training.text_tokenizer import build_review_tokenizer

TINY = [
    "--embedding-dim",
    "8",
    "--hidden-size",
    "8",
    "--batch-size",
    "16",
    "--max-length",
    "32",
    "--threads",
    "1",
]


def run_training(data: Path, out: Path, *extra: str) -> None:
    threads = TINY[-2:]
    main([*threads, "sentiment", "--data", str(data), "--out", str(out), *TINY[:-2], *extra])


def test_reads_the_jsonl_and_tree_layouts(tmp_path: Path) -> None:
    jsonl = imdb.load_split(write_imdb_jsonl(tmp_path / "jsonl", 20, 10), "test")
    tree = imdb.load_split(write_imdb_tree(tmp_path / "tree", 20, 10), "test")
    assert len(jsonl.texts) == len(tree.texts) == 10
    assert sorted(jsonl.labels) == sorted(tree.labels) == [0] * 5 + [1] * 5
    assert "test.jsonl.gz" in jsonl.files


def test_missing_split_names_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected train.jsonl.gz or train/pos"):
        imdb.load_split(tmp_path, "train")


def test_tokenizer_lowercases_drops_markup_and_splits_punctuation() -> None:
    tokenizer = build_review_tokenizer(
        ["Great film!<br /><br />Loved it, truly."] * 3, max_size=100, min_freq=2
    )
    assert tokenizer.encode("GREAT film!<br />loved it").tokens == ["great", "film", "!", "loved", "it"]
    assert tokenizer.encode("unseenword").tokens == ["<unk>"]
    assert tokenizer.token_to_id("<pad>") == 0 and tokenizer.token_to_id("<unk>") == 1


def test_vocabulary_respects_max_size_and_min_freq() -> None:
    texts = ["common common common rare"] * 2 + ["once"]
    tokenizer = build_review_tokenizer(texts, max_size=3, min_freq=2)
    assert set(tokenizer.get_vocab()) == {"<pad>", "<unk>", "common"}


def test_bucketed_batches_cover_every_index_once_with_little_padding() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 500) for _ in range(2000)]
    batches = bucketed_batches(lengths, 32, random.Random(1))
    assert sorted(i for batch in batches for i in batch) == list(range(2000))
    shuffled = list(range(2000))
    random.Random(2).shuffle(shuffled)
    unsorted = [shuffled[i : i + 32] for i in range(0, 2000, 32)]
    assert padding_share(lengths, batches) < 0.1 < padding_share(lengths, unsorted)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_epoch_writes_an_artifact_that_predicts_as_recorded(tmp_path: Path, cell: str) -> None:
    data = write_imdb_jsonl(tmp_path / "data")
    run_training(data, tmp_path / "out", "--cell", cell, "--epochs", "1")
    artifact = load_artifact(tmp_path / "out")
    assert artifact.card.arch["cell"] == cell and artifact.card.training["device"] == "cpu"
    assert (tmp_path / "out" / "curves.png").read_bytes().startswith(b"\x89PNG")
    # The loaded weights reproduce the test accuracy measured in training, on the same split.
    test = imdb.load_split(data, "test")
    assert artifact.tokenizer is not None
    sequences = encode(artifact.tokenizer, test.texts, 32, "pre")
    token_ids, lengths = pad_batch(sequences, 0)
    with torch.inference_mode():
        predictions = artifact.model(token_ids, lengths).argmax(dim=1)
    accuracy = (predictions == torch.tensor(test.labels)).float().mean().item()
    assert accuracy == pytest.approx(artifact.card.metrics["test_accuracy"], abs=1e-4)


def test_training_learns_the_generated_task_and_resumes_from_its_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_imdb_jsonl(tmp_path / "data", train_count=400)
    checkpoint = tmp_path / "checkpoint"
    run_training(data, tmp_path / "out", "--epochs", "1", "--checkpoint-dir", str(checkpoint), "--lr", "0.01")
    run_training(
        data,
        tmp_path / "out",
        "--epochs",
        "6",
        "--patience",
        "6",
        "--checkpoint-dir",
        str(checkpoint),
        "--lr",
        "0.01",
    )
    assert "resumed after epoch 1" in capsys.readouterr().out
    card = load_artifact(tmp_path / "out").card
    assert card.training["epochs_run"] == 6
    assert card.metrics["test_accuracy"] >= 0.9
