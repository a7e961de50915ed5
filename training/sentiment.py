"""Train the IMDB sentiment classifier and write its artifact."""

import argparse
import json
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from tqdm import tqdm

from models import architectures
from models.artifact import FORMAT_VERSION, ModelCard, write_artifact
from models.sentiment import SentimentClassifier, SentimentConfig
from models.text import pad_batch, truncate
from training import imdb
from training.buckets import bucketed_batches, padding_share
from training.checkpoint import resume, save_epoch
from training.early_stopping import EarlyStopping
from training.plots import loss_curves_png
from training.provenance import now_iso, pick_device, seed_everything, training_record, weights_version
from training.text_tokenizer import PAD, build_review_tokenizer

LABELS = ["negative", "positive"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with train/test .jsonl.gz or the aclImdb tree")
    parser.add_argument("--out", type=Path, required=True, help="artifact folder to write (replaced atomically)")
    parser.add_argument("--name", default="sentiment", help="model name recorded in the card")
    parser.add_argument("--max-size", type=int, default=25000, help="vocabulary size, specials included")
    parser.add_argument("--min-freq", type=int, default=2, help="least count for a word to enter the vocabulary")
    parser.add_argument("--max-length", type=int, default=400, help="tokens kept per review")
    parser.add_argument("--truncation", choices=["pre", "post"], default="pre", help="pre drops the start, post the end")
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm", help="recurrent cell type")
    parser.add_argument("--embedding-dim", type=int, default=128, help="word embedding size")
    parser.add_argument("--hidden-size", type=int, default=128, help="recurrent units per direction")
    parser.add_argument("--num-layers", type=int, default=1, help="stacked recurrent layers")
    parser.add_argument("--unidirectional", action="store_true", help="forward direction only")
    parser.add_argument("--pooling", choices=["last", "max", "mean"], default="max", help="how outputs are pooled over time")
    parser.add_argument("--dropout", type=float, default=0.4, help="dropout on embeddings, between layers and before the head")
    parser.add_argument("--batch-size", type=int, default=64, help="reviews per training step")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs to run")
    parser.add_argument("--patience", type=int, default=2, help="epochs without validation improvement before stopping")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of train held aside for validation")
    parser.add_argument("--limit", type=int, default=0, help="use only this many train and test reviews (0: all); for smoke runs")
    parser.add_argument("--seed", type=int, default=13, help="random seed for the split, init and batching")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="resume from / save to this folder each epoch")


def encode(tokenizer: Tokenizer, texts: list[str], max_length: int, truncation: str) -> list[list[int]]:
    """Token ids per text, cut to max_length; an empty review becomes a lone <unk> so it still has a step."""
    encoded = [truncate(e.ids, max_length, truncation)[0] for e in tokenizer.encode_batch(texts)]  # type: ignore[arg-type]
    return [ids if ids else [1] for ids in encoded]


def run_epoch(
    model: SentimentClassifier,
    sequences: list[list[int]],
    labels: list[int],
    batches: list[list[int]],
    device: torch.device,
    optimizer: torch.optim.Optimizer | None = None,
    clip: float = 0.0,
    description: str = "",
) -> tuple[float, float]:
    """One pass over `batches`; trains when an optimizer is given. Returns (mean loss, accuracy)."""
    training = optimizer is not None
    model.train(training)
    total_loss, correct, seen = 0.0, 0, 0
    progress = tqdm(batches, desc=description, leave=False, mininterval=5)
    with torch.set_grad_enabled(training):
        for batch in progress:
            token_ids, lengths = pad_batch([sequences[i] for i in batch], pad_id=0)
            targets = torch.tensor([labels[i] for i in batch], device=device)
            logits = model(token_ids.to(device), lengths)
            loss = F.cross_entropy(logits, targets)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(dim=1) == targets).sum())
            seen += len(batch)
            progress.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    return total_loss / seen, correct / seen


def train(args: argparse.Namespace) -> ModelCard:
    seed_everything(args.seed)
    device = pick_device(args.device)
    started = time.time()
    train_split = imdb.load_split(args.data, "train")
    test_split = imdb.load_split(args.data, "test")
    rng = random.Random(args.seed)
    order = list(range(len(train_split.texts)))
    rng.shuffle(order)
    if args.limit:
        order = order[: args.limit]
    validation_count = max(1, int(len(order) * args.val_fraction))
    validation_ids, train_ids = order[:validation_count], order[validation_count:]
    train_texts = [train_split.texts[i] for i in train_ids]
    train_labels = [train_split.labels[i] for i in train_ids]
    validation_texts = [train_split.texts[i] for i in validation_ids]
    validation_labels = [train_split.labels[i] for i in validation_ids]
    test_order = list(range(len(test_split.texts)))
    if args.limit:
        test_order = random.Random(args.seed).sample(test_order, min(args.limit, len(test_order)))
    test_texts = [test_split.texts[i] for i in test_order]
    test_labels = [test_split.labels[i] for i in test_order]

    # The vocabulary comes from the training part only: validation and test words stay unseen.
    checkpoint_tokenizer = args.checkpoint_dir / "tokenizer.json" if args.checkpoint_dir else None
    if checkpoint_tokenizer and checkpoint_tokenizer.is_file():
        tokenizer = Tokenizer.from_file(str(checkpoint_tokenizer))
    else:
        tokenizer = build_review_tokenizer(train_texts, args.max_size, args.min_freq)
    assert tokenizer.token_to_id(PAD) == 0
    train_sequences = encode(tokenizer, train_texts, args.max_length, args.truncation)
    validation_sequences = encode(tokenizer, validation_texts, args.max_length, args.truncation)
    test_sequences = encode(tokenizer, test_texts, args.max_length, args.truncation)
    train_lengths = [len(s) for s in train_sequences]
    print(
        f"train {len(train_sequences)}, validation {len(validation_sequences)}, test {len(test_sequences)}; "
        f"vocabulary {tokenizer.get_vocab_size()}; mean length {sum(train_lengths) / len(train_lengths):.0f}; device {device}"
    )

    config = SentimentConfig(
        vocab_size=tokenizer.get_vocab_size(),
        embedding_dim=args.embedding_dim,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        cell=args.cell,
        bidirectional=not args.unidirectional,
        dropout=args.dropout,
        pooling=args.pooling,
        num_classes=len(LABELS),
        padding_idx=0,
    )
    model = SentimentClassifier(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    stopper = EarlyStopping(args.patience)
    history: dict[str, list[float]] = {"train_loss": [], "validation_loss": [], "validation_accuracy": []}
    history, first_epoch, seconds_before = resume(args.checkpoint_dir, model, optimizer, stopper, history)
    if args.checkpoint_dir:
        tokenizer.save(str(args.checkpoint_dir / "tokenizer.json"))  # a resumed run must keep its vocabulary

    validation_batches = bucketed_batches([len(s) for s in validation_sequences], 256, None)
    batch_rng = random.Random(args.seed + first_epoch)
    stop = stopper.epochs_without_improvement >= args.patience
    for epoch in range(first_epoch, args.epochs + 1):
        if stop:
            break
        batches = bucketed_batches(train_lengths, args.batch_size, batch_rng)
        train_loss, train_accuracy = run_epoch(
            model, train_sequences, train_labels, batches, device, optimizer, args.clip, f"epoch {epoch}"
        )
        validation_loss, validation_accuracy = run_epoch(
            model, validation_sequences, validation_labels, validation_batches, device, description="validation"
        )
        history["train_loss"].append(train_loss)
        history["validation_loss"].append(validation_loss)
        history["validation_accuracy"].append(validation_accuracy)
        stop = stopper.update(epoch, validation_loss, model)
        print(
            f"epoch {epoch}: train loss {train_loss:.4f} acc {train_accuracy:.4f} | validation loss {validation_loss:.4f} "
            f"acc {validation_accuracy:.4f} | padding {padding_share(train_lengths, batches):.1%} | {time.time() - started:.0f}s"
        )
        save_epoch(args.checkpoint_dir, epoch, model, optimizer, stopper, history, seconds_before + time.time() - started)

    model.load_state_dict(stopper.best_state)
    test_batches = bucketed_batches([len(s) for s in test_sequences], 256, None)
    test_loss, test_accuracy = run_epoch(model, test_sequences, test_labels, test_batches, device, description="test")
    best_index = stopper.best_epoch - 1
    print(f"best epoch {stopper.best_epoch}: test accuracy {test_accuracy:.4f}, test loss {test_loss:.4f}")

    model.cpu()
    card = ModelCard(
        format=FORMAT_VERSION,
        name=args.name,
        version=weights_version(model),
        task="sentiment",
        arch=architectures.describe(model),
        io={"labels": LABELS, "max_length": args.max_length, "truncation": args.truncation, "pad_token": PAD},
        license="IMDB Large Movie Review Dataset (Maas et al. 2011): no explicit license; research use, cite the paper",
        metrics={
            "test_accuracy": round(test_accuracy, 5),
            "test_loss": round(test_loss, 5),
            "validation_accuracy": round(history["validation_accuracy"][best_index], 5),
            "validation_loss": round(history["validation_loss"][best_index], 5),
        },
        data={
            "dataset": "imdb (aclImdb v1)",
            "splits": {"train": len(train_sequences), "validation": len(validation_sequences), "test": len(test_sequences)},
            "validation_from": "train (random, seeded); test never seen in training",
            "sha256": {**train_split.files, **test_split.files},
        },
        training=training_record(args, history, stopper.best_epoch, seconds_before + time.time() - started, device),
        created=now_iso(),
    )
    curves = loss_curves_png(history["train_loss"], history["validation_loss"], f"{args.name}: cross-entropy")
    write_artifact(args.out, card, model, tokenizer, {"curves.png": curves})
    print(f"wrote {args.out}: " + json.dumps(card.metrics))
    return card
