import math
from pathlib import Path

import pytest
import torch

from models.artifact import load_artifact
from models.language_model import LanguageModel, LanguageModelConfig
from tests.helpers import write_ptb_corpus
from training.cli import main
from training.corpus import batchify, bptt_windows, load_corpus
from training.language_model import EVAL_STREAMS, detach, evaluate
from training.lm_tokenizer import build_ptb_tokenizer

PTB_WORDS = [
    "the",
    "company",
    "said",
    "it",
    "'s",
    "do",
    "n't",
    "N",
    "$",
    "mr.",
    "u.s.",
    "corp.",
    "&",
    "s&p",
    "1980s",
    "<eos>",
    "<unk>",
]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("The Company said.", ["the", "company", "said"]),
        ("It's 5% -- don't!", ["it", "'s", "N", "N", "do", "n't"]),
        ("Mr. Smith of U.S. Steel Corp. said", ["mr.", "<unk>", "<unk>", "u.s.", "<unk>", "corp.", "said"]),
        ("$1,200.50 in the 1980s", ["$", "N", "<unk>", "the", "1980s"]),
        ('"S&P", (said) it', ["s&p", "said", "it"]),
        ("the <unk> said N N", ["the", "<unk>", "said", "N", "N"]),
    ],
)
def test_ptb_tokenizer_normalizes_user_text_as_ptb_was_prepared(text: str, tokens: list[str]) -> None:
    assert build_ptb_tokenizer(PTB_WORDS).encode(text).tokens == tokens


def test_batchify_lays_the_corpus_out_in_contiguous_streams() -> None:
    data = batchify(torch.arange(26), 4)  # two ids do not fill a row and are dropped
    assert data.tolist() == [
        [0, 1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10, 11],
        [12, 13, 14, 15, 16, 17],
        [18, 19, 20, 21, 22, 23],
    ]


def test_bptt_windows_shift_targets_by_one_and_cover_each_stream() -> None:
    windows = bptt_windows(batchify(torch.arange(24), 4), bptt=3)
    assert [(x[0].tolist(), y[0].tolist()) for x, y in windows] == [([0, 1, 2], [1, 2, 3]), ([3, 4], [4, 5])]


def test_state_is_carried_between_windows_but_detached() -> None:
    torch.manual_seed(0)
    model = LanguageModel(
        LanguageModelConfig(vocab_size=30, embedding_dim=6, hidden_size=6, num_layers=1, dropout=0.0)
    )
    data = batchify(torch.randint(0, 30, (40,)), 2)
    (first_x, _), (second_x, _) = bptt_windows(data, 5)[:2]
    _, state = model(first_x)
    carried = detach(state)
    assert isinstance(carried, tuple) and not carried[0].requires_grad and torch.equal(carried[0], state[0])
    # Carrying the state changes the next window's output: the streams are continuous.
    with_state, _ = model(second_x, carried)
    fresh, _ = model(second_x)
    assert not torch.allclose(with_state, fresh)


def test_vocabulary_is_the_training_split_plus_eos(tmp_path: Path) -> None:
    corpus = load_corpus(write_ptb_corpus(tmp_path), "ptb")
    assert corpus.vocabulary[-2:] == ["<eos>", "<unk>"]
    assert set(corpus.vocabulary) == set(corpus.splits["train"]) | {"<unk>"}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_one_epoch_writes_an_artifact_whose_perplexity_reproduces(tmp_path: Path, cell: str) -> None:
    data = write_ptb_corpus(tmp_path / "data")
    main(
        [
            "--threads",
            "1",
            "lm",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "lm"),
            "--cell",
            cell,
            "--hidden-size",
            "16",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--bptt",
            "8",
            "--lr",
            "5",
        ]
    )
    artifact = load_artifact(tmp_path / "lm")
    assert artifact.card.task == "language-model" and artifact.card.arch["cell"] == cell
    assert (tmp_path / "lm" / "curves.png").is_file()
    # Recompute test perplexity from the files alone.
    words = artifact.tokenizer.get_vocab()  # type: ignore[union-attr]
    corpus = load_corpus(data, "ptb")
    ids = torch.tensor([words.get(token, words["<unk>"]) for token in corpus.splits["test"]])
    loss = evaluate(artifact.model, batchify(ids, EVAL_STREAMS), 35)  # type: ignore[arg-type]
    assert math.exp(loss) == pytest.approx(artifact.card.metrics["test_perplexity"], rel=1e-3)


def test_training_learns_the_toy_corpus_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_ptb_corpus(tmp_path / "data")
    arguments = [
        "--threads",
        "1",
        "lm",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "lm"),
        "--hidden-size",
        "32",
        "--batch-size",
        "4",
        "--bptt",
        "10",
        "--lr",
        "5",
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
    ]
    main([*arguments, "--epochs", "1"])
    main([*arguments, "--epochs", "4"])
    assert "resumed after epoch 1" in capsys.readouterr().out
    card = load_artifact(tmp_path / "lm").card
    assert card.training["epochs_run"] == 4
    # Five sentences repeated: far below the vocabulary size of ~35.
    assert card.metrics["test_perplexity"] < 8
