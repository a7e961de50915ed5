"""Small artifacts and data made by the tests themselves (no downloads, no shared data)."""

import gzip
import json
import random
from pathlib import Path

import torch

from models import architectures
from models.artifact import FORMAT_VERSION, ModelCard, write_artifact
from models.forecaster import Forecaster, ForecasterConfig
from models.language_model import LanguageModel, LanguageModelConfig
from models.sentiment import SentimentClassifier, SentimentConfig
from training.lm_tokenizer import build_ptb_tokenizer
from training.text_tokenizer import build_review_tokenizer

POSITIVE_WORDS = ["great", "wonderful", "brilliant", "moving", "superb", "loved"]
NEGATIVE_WORDS = ["awful", "boring", "dull", "terrible", "waste", "hated"]
FILLER = ["the", "film", "plot", "actor", "scene", "it", "was", "a", "and", "story"]


def make_reviews(count: int, seed: int = 0) -> list[tuple[str, int]]:
    """Reviews of varied length whose label is told by sentiment words among filler."""
    rng = random.Random(seed)
    reviews = []
    for index in range(count):
        label = index % 2
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 40))]
        for _ in range(rng.randint(1, 3)):
            words.insert(
                rng.randrange(len(words) + 1), rng.choice(POSITIVE_WORDS if label else NEGATIVE_WORDS)
            )
        text = (
            " ".join(words).capitalize()
            + ("!" if label else ".")
            + (" <br /><br />The end." if index % 5 == 0 else "")
        )
        reviews.append((text, label))
    return reviews


def write_imdb_jsonl(root: Path, train_count: int = 240, test_count: int = 80) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, count, seed in (("train", train_count, 1), ("test", test_count, 2)):
        with gzip.open(root / f"{split}.jsonl.gz", "wt", encoding="utf-8") as stream:
            for index, (text, label) in enumerate(make_reviews(count, seed)):
                stream.write(
                    json.dumps({"id": index, "rating": 9 if label else 2, "label": label, "text": text})
                    + "\n"
                )
    return root


def write_imdb_tree(root: Path, train_count: int = 60, test_count: int = 20) -> Path:
    for split, count, seed in (("train", train_count, 1), ("test", test_count, 2)):
        for index, (text, label) in enumerate(make_reviews(count, seed)):
            folder = root / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{index}_{9 if label else 2}.txt").write_text(text)
    return root


def sentiment_card(
    model: SentimentClassifier, name: str = "sentiment", max_length: int = 64, version: str = "test-1"
) -> ModelCard:
    return ModelCard(
        format=FORMAT_VERSION,
        name=name,
        version=version,
        task="sentiment",
        arch=architectures.describe(model),
        io={
            "labels": ["negative", "positive"],
            "max_length": max_length,
            "truncation": "pre",
            "pad_token": "<pad>",
        },
        license="test data",
        metrics={"test_accuracy": 0.5},
        data={"dataset": "generated"},
        training={"seed": 0},
        created="2026-01-01T00:00:00+00:00",
    )


def write_tiny_sentiment_artifact(
    directory: Path,
    name: str = "sentiment",
    max_length: int = 64,
    version: str = "test-1",
    seed: int = 0,
    **config: object,
) -> Path:
    """An untrained but complete sentiment artifact: fast to make, exercises every code path. Another
    `version` with another `seed` is a retrain: other weights, other answers."""
    torch.manual_seed(seed)
    tokenizer = build_review_tokenizer([text for text, _ in make_reviews(50)], max_size=200, min_freq=1)
    settings = {"embedding_dim": 8, "hidden_size": 8, "dropout": 0.0, **config}
    model = SentimentClassifier(SentimentConfig(vocab_size=tokenizer.get_vocab_size(), **settings)).eval()  # type: ignore[arg-type]
    write_artifact(
        directory / name,
        sentiment_card(model, name, max_length, version),
        model,
        tokenizer,
        {"curves.png": b"\x89PNG"},
    )
    return directory / name


LM_SENTENCES = [
    "the company said it expects a loss",
    "the new york stock exchange closed higher",
    "mr. smith said the company 's shares rose N N",
    "they do n't expect a N million loss",
    "the u.s. economy grew in the third quarter",
]


def write_ptb_corpus(root: Path, repeat: int = 30) -> Path:
    """A toy corpus in PTB's files and form: one sentence a line, lowercase, N for numbers."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for split, count in (("train", repeat), ("valid", 4), ("test", 4)):
        lines = [rng.choice(LM_SENTENCES) for _ in range(count * len(LM_SENTENCES))]
        (root / f"ptb.{split}.txt").write_text("".join(f" {line} \n" for line in lines))
    return root


def write_tiny_lm_artifact(
    directory: Path, name: str = "lm-ptb", cell: str = "lstm", version: str = "test-lm-1", seed: int = 0
) -> Path:
    """An untrained language model over the toy corpus's words, with the PTB normalizer."""
    torch.manual_seed(seed)
    words = sorted({word for line in LM_SENTENCES for word in line.split()}) + ["<eos>", "<unk>"]
    model = LanguageModel(
        LanguageModelConfig(
            vocab_size=len(words), embedding_dim=8, hidden_size=8, num_layers=2, cell=cell, dropout=0.0
        )
    ).eval()  # type: ignore[arg-type]
    card = ModelCard(
        format=FORMAT_VERSION,
        name=name,
        version=version,
        task="language-model",
        arch=architectures.describe(model),
        io={"corpus": "ptb", "eos_token": "<eos>", "unk_token": "<unk>", "normalization": "ptb"},
        license="test data",
        metrics={"test_perplexity": 10.0},
        data={"dataset": "generated"},
        training={"seed": 0},
        created="2026-01-01T00:00:00+00:00",
    )
    write_artifact(directory / name, card, model, build_ptb_tokenizer(words))
    return directory / name


TINY_QUANTILES = (0.05, 0.1, 0.5, 0.9, 0.95)


def write_tiny_forecast_artifact(
    directory: Path,
    name: str,
    features: list[str],
    target: str,
    multi_step: str = "direct",
    context_length: int = 8,
    max_horizon: int = 6,
    methods: list[str] | None = None,
    min_history: int | None = None,
) -> Path:
    """An untrained forecaster with made-up conformal offsets that widen with the horizon; `methods` and
    `min_history` as the card's io gives them (default: the network alone, histories of the context)."""
    torch.manual_seed(0)
    config = ForecasterConfig(
        input_size=len(features),
        hidden_size=8,
        num_layers=2,
        multi_step=multi_step,  # type: ignore[arg-type]
        max_horizon=max_horizon,
        target_index=features.index(target),
    )
    model = Forecaster(config).eval()
    z_scores = {0.05: -1.64, 0.1: -1.28, 0.5: 0.0, 0.9: 1.28, 0.95: 1.64}
    card = ModelCard(
        format=FORMAT_VERSION,
        name=name,
        version=f"test-{name}-1",
        task="forecast",
        arch=architectures.describe(model),
        io={
            "features": features,
            "target": target,
            "context_length": context_length,
            "max_horizon": max_horizon,
            "multi_step": multi_step,
            "scaling": {"method": "window", "min_scale": [1e-3] * len(features), "fitted_on": "train part"},
            "quantiles": {
                str(q): [z_scores[q] * (1 + 0.1 * h) for h in range(max_horizon)] for q in TINY_QUANTILES
            },
            "methods": methods or ["network"],
            "min_history": min_history,
        },
        license="test data",
        metrics={"test_mase": 1.0},
        data={"dataset": "generated"},
        training={"seed": 0},
        created="2026-01-01T00:00:00+00:00",
    )
    write_artifact(directory / name, card, model)
    return directory / name
