"""Train the IMDB sentiment classifier and write its artifact."""

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn
from tqdm import tqdm

from models.card_io import SentimentIO
from models.sentiment import CellType, Pooling, SentimentClassifier, SentimentConfig
from models.text import Truncation, pad_batch, truncate
from training import distributed, imdb
from training.buckets import bucketed_batches
from training.distributed import World
from training.golden import sentiment_golden
from training.loop import EpochStats, Finished, Fit, RunConfig, RunDefaults, Trainer
from training.text_tokenizer import PAD, build_review_tokenizer

LABELS = ["negative", "positive"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with train/test .jsonl.gz or the aclImdb tree"
    )
    RunConfig.add_arguments(parser, RunDefaults(name="sentiment", epochs=10, patience=2, seed=13))
    parser.add_argument("--max-size", type=int, default=25000, help="vocabulary size, specials included")
    parser.add_argument(
        "--min-freq", type=int, default=2, help="least count for a word to enter the vocabulary"
    )
    parser.add_argument("--max-length", type=int, default=400, help="tokens kept per review")
    parser.add_argument(
        "--truncation", choices=["pre", "post"], default="pre", help="pre drops the start, post the end"
    )
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm", help="recurrent cell type")
    parser.add_argument("--embedding-dim", type=int, default=128, help="word embedding size")
    parser.add_argument("--hidden-size", type=int, default=128, help="recurrent units per direction")
    parser.add_argument("--num-layers", type=int, default=1, help="stacked recurrent layers")
    parser.add_argument("--unidirectional", action="store_true", help="forward direction only")
    parser.add_argument(
        "--pooling", choices=["last", "max", "mean"], default="max", help="how outputs are pooled over time"
    )
    parser.add_argument(
        "--dropout", type=float, default=0.4, help="dropout on embeddings, between layers and before the head"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="reviews per training step")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    parser.add_argument(
        "--val-fraction", type=float, default=0.1, help="share of train held aside for validation"
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=0,
        help="use only this many train and test reviews (0: all); for smoke runs",
    )


@dataclass(frozen=True, kw_only=True)
class SentimentRun(RunConfig):
    data: Path
    max_size: int
    min_freq: int
    max_length: int
    truncation: Truncation
    cell: CellType
    embedding_dim: int
    hidden_size: int
    num_layers: int
    unidirectional: bool
    pooling: Pooling
    dropout: float
    batch_size: int
    lr: float
    clip: float
    val_fraction: float
    limit: int


@dataclass
class EncodedReviews:
    """One part of the data: token ids per review (cut to max_length) and labels (1 = positive)."""

    sequences: list[list[int]]
    labels: list[int]

    @property
    def lengths(self) -> list[int]:
        return [len(sequence) for sequence in self.sequences]


def encode(
    tokenizer: Tokenizer, texts: list[str], max_length: int, truncation: Truncation
) -> list[list[int]]:
    """Token ids per text, cut to max_length; an empty review becomes a lone <unk> so it still has a step."""
    encoded = [truncate(e.ids, max_length, truncation)[0] for e in tokenizer.encode_batch(texts)]
    return [ids if ids else [1] for ids in encoded]


def train_steps(
    model: nn.Module,
    reviews: EncodedReviews,
    batches: list[list[int]],
    optimizer: torch.optim.Optimizer,
    clip: float,
    world: World,
    device: torch.device,
    description: str,
) -> EpochStats:
    """One step per global batch, on this rank's rows of it; returns this rank's mean loss and rows seen."""
    model.train()
    total, seen = 0.0, 0
    progress = tqdm(batches, desc=description, leave=False, mininterval=5, disable=not world.is_main)
    for batch in progress:
        rows = distributed.rows_of(batch, world)
        token_ids, lengths = pad_batch([reviews.sequences[i] for i in rows], pad_id=0)
        targets = torch.tensor([reviews.labels[i] for i in rows], device=device)
        loss = F.cross_entropy(model(token_ids.to(device), lengths), targets)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss * distributed.share_of_batch(len(rows), len(batch), world))
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * len(rows)
        seen += len(rows)
        progress.set_postfix(loss=f"{total / seen:.4f}")
    return EpochStats(total / seen, seen)


@torch.inference_mode()
def score(
    model: nn.Module, reviews: EncodedReviews, batches: list[list[int]], device: torch.device
) -> list[float]:
    """[summed loss, correct, reviews] over `batches`, in eval mode."""
    model.eval()
    total, correct, seen = 0.0, 0, 0
    for batch in batches:
        token_ids, lengths = pad_batch([reviews.sequences[i] for i in batch], pad_id=0)
        targets = torch.tensor([reviews.labels[i] for i in batch], device=device)
        logits = model(token_ids.to(device), lengths)
        total += F.cross_entropy(logits, targets, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == targets).sum())
        seen += len(batch)
    return [total, correct, seen]


Part = tuple[list[str], list[int]]  # texts and labels


def split_reviews(config: SentimentRun) -> tuple[list[Part], dict[str, str]]:
    """[train, validation, test] texts and labels, and the sha256 of the files read.
    Validation is a seeded share of train; test stays unseen."""
    train_split, test_split = imdb.load_split(config.data, "train"), imdb.load_split(config.data, "test")
    order = list(range(len(train_split.texts)))
    random.Random(config.seed).shuffle(order)
    if config.limit:
        order = order[: config.limit]
    validation_count = max(1, int(len(order) * config.val_fraction))
    test_order = list(range(len(test_split.texts)))
    if config.limit:
        test_order = random.Random(config.seed).sample(test_order, min(config.limit, len(test_order)))
    chosen = (
        (train_split, order[validation_count:]),
        (train_split, order[:validation_count]),
        (test_split, test_order),
    )
    parts = [
        ([split.texts[i] for i in indices], [split.labels[i] for i in indices]) for split, indices in chosen
    ]
    return parts, {**train_split.files, **test_split.files}


class SentimentTrainer(Trainer[SentimentClassifier]):
    config: SentimentRun

    def setup(self) -> None:
        config = self.config
        parts, self.files = split_reviews(config)
        train_texts = parts[0][0]
        # The vocabulary comes from the training part only; a resumed run keeps the one it started with.
        saved = config.checkpoint_dir / "tokenizer.json" if config.checkpoint_dir else None
        resumed = saved is not None and saved.is_file()
        if saved and resumed:
            self.tokenizer = Tokenizer.from_file(str(saved))
        else:
            self.tokenizer = build_review_tokenizer(
                train_texts, config.max_size, config.min_freq
            )  # the same on every rank
        if self.tokenizer.token_to_id(PAD) != 0:
            raise ValueError(f"the review tokenizer must give {PAD} the id 0")
        distributed.barrier(self.world)  # every rank has looked before rank 0 writes
        if saved and not resumed and self.world.is_main:
            saved.parent.mkdir(parents=True, exist_ok=True)
            self.tokenizer.save(str(saved))
        encoded = [
            EncodedReviews(encode(self.tokenizer, texts, config.max_length, config.truncation), labels)
            for texts, labels in parts
        ]
        self.train_part, self.validation_part, self.test_part = encoded
        self.test_texts = parts[2][0]  # for golden.json
        lengths = self.train_part.lengths
        print(
            f"train {len(lengths)}, validation {len(self.validation_part.labels)}, test "
            f"{len(self.test_part.labels)}; vocabulary {self.tokenizer.get_vocab_size()}; mean length "
            f"{sum(lengths) / len(lengths):.0f}; "
            f"device {self.device}"
        )
        self.model = SentimentClassifier(self._network_config()).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)

    def _network_config(self) -> SentimentConfig:
        config = self.config
        return SentimentConfig(
            vocab_size=self.tokenizer.get_vocab_size(),
            embedding_dim=config.embedding_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            cell=config.cell,
            bidirectional=not config.unidirectional,
            dropout=config.dropout,
            pooling=config.pooling,
            num_classes=len(LABELS),
            padding_idx=0,
        )

    def start(self, first_epoch: int) -> None:
        self.batch_rng = random.Random(
            self.config.seed + first_epoch
        )  # a resumed run draws other batches than epoch 1's

    def train_epoch(self, epoch: int) -> EpochStats:
        batches = bucketed_batches(self.train_part.lengths, self.config.batch_size, self.batch_rng)
        batches = [
            batch for batch in batches if len(batch) >= self.world.size
        ]  # every rank needs a row of each
        return train_steps(
            self.train_model,
            self.train_part,
            batches,
            self.optimizer,
            self.config.clip,
            self.world,
            self.device,
            f"epoch {epoch}",
        )

    def validate(self) -> tuple[float, dict[str, float]]:
        """Each rank scores its share of the validation batches; the sums are added across ranks."""
        batches = distributed.rows_of(bucketed_batches(self.validation_part.lengths, 256, None), self.world)
        sums = score(self.model, self.validation_part, batches, self.device)
        total, correct, seen = distributed.sum_across(sums, self.world, self.device)
        return total / seen, {"validation_accuracy": correct / seen}

    def finish(self, fit: Fit) -> Finished:
        config = self.config
        total, correct, seen = score(
            self.model, self.test_part, bucketed_batches(self.test_part.lengths, 256, None), self.device
        )
        test_loss, test_accuracy = total / seen, correct / seen
        print(f"best epoch {fit.best_epoch}: test accuracy {test_accuracy:.4f}, test loss {test_loss:.4f}")
        card = self.card(
            fit,
            "sentiment",
            io=SentimentIO(
                labels=LABELS, max_length=config.max_length, truncation=config.truncation, pad_token=PAD
            ),
            license="IMDB Large Movie Review Dataset (Maas et al. 2011): no explicit license; research use, "
            "cite the paper",
            metrics={
                "test_accuracy": round(test_accuracy, 5),
                "test_loss": round(test_loss, 5),
                "validation_accuracy": round(fit.at_best("validation_accuracy"), 5),
                "validation_loss": round(fit.at_best("validation_loss"), 5),
            },
            data={
                "dataset": "imdb (aclImdb v1)",
                "splits": {
                    "train": len(self.train_part.labels),
                    "validation": len(self.validation_part.labels),
                    "test": len(self.test_part.labels),
                },
                "validation_from": "train (random, seeded); test never seen in training",
                "sha256": self.files,
            },
        )
        assert isinstance(card.io, SentimentIO)
        golden = sentiment_golden(self.model, self.tokenizer, card.io, self.test_texts)
        return Finished(card, self.tokenizer, self.loss_curves(fit, "cross-entropy"), golden)


def trainer_from(arguments: argparse.Namespace) -> SentimentTrainer:
    return SentimentTrainer(SentimentRun.from_arguments(arguments))
