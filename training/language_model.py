"""Train the word-level RNN language model with truncated BPTT and write its artifact."""

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from models import architectures
from models.artifact import FORMAT_VERSION, ModelCard, write_artifact
from models.language_model import LanguageModel, LanguageModelConfig, State
from training.checkpoint import resume, save_epoch
from training.corpus import Corpus, batchify, bptt_windows, load_corpus
from training.early_stopping import EarlyStopping
from training.lm_tokenizer import EOS, UNK, build_ptb_tokenizer, build_wikitext_tokenizer
from training.plots import loss_curves_png
from training.provenance import now_iso, pick_device, seed_everything, training_record, weights_version

EVAL_STREAMS = 10  # the usual PTB evaluation batch size (Zaremba et al., pytorch/examples)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with ptb.{train,valid,test}.txt or wiki.*.tokens")
    parser.add_argument("--corpus", choices=["ptb", "wikitext-2"], default="ptb", help="which corpus the folder holds")
    parser.add_argument("--out", type=Path, required=True, help="artifact folder to write (replaced atomically)")
    parser.add_argument("--name", default="lm-ptb", help="model name recorded in the card")
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm", help="recurrent cell type")
    parser.add_argument("--hidden-size", type=int, default=200, help="recurrent units per layer (and embedding size when tied)")
    parser.add_argument("--embedding-dim", type=int, default=0, help="word vector size (0: same as --hidden-size)")
    parser.add_argument("--num-layers", type=int, default=2, help="stacked recurrent layers")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout on embeddings, between layers and before the decoder")
    parser.add_argument("--no-tie", action="store_true", help="do not share input and output word vectors")
    parser.add_argument("--batch-size", type=int, default=20, help="parallel streams during training")
    parser.add_argument("--bptt", type=int, default=35, help="steps per truncated-BPTT window")
    parser.add_argument("--lr", type=float, default=20.0, help="initial SGD learning rate")
    parser.add_argument("--lr-decay", type=float, default=4.0, help="divide the learning rate by this when validation stalls")
    parser.add_argument("--clip", type=float, default=0.25, help="gradient norm clipping")
    parser.add_argument("--epochs", type=int, default=40, help="most epochs to run")
    parser.add_argument("--patience", type=int, default=3, help="epochs without validation improvement before stopping")
    parser.add_argument(
        "--limit-tokens", type=int, default=0, help="use only this many tokens of each split (0: all); smoke runs"
    )
    parser.add_argument("--seed", type=int, default=1111, help="random seed")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="resume from / save to this folder each epoch")


def detach(state: State) -> State:
    """Cut the graph at the window boundary: the state's values carry over, its history does not.

    Without this, backpropagation would run through every window since the start of the epoch.
    """
    if isinstance(state, tuple):
        return (state[0].detach(), state[1].detach())
    return state.detach()


def train_epoch(
    model: LanguageModel, data: torch.Tensor, bptt: int, optimizer: torch.optim.Optimizer, clip: float, description: str
) -> float:
    """One pass over the (B, L) streams; returns the mean training NLL per token."""
    model.train()
    state: State | None = None
    total, count = 0.0, 0
    progress = tqdm(bptt_windows(data, bptt), desc=description, leave=False, mininterval=5)
    for inputs, targets in progress:
        if state is not None:
            state = detach(state)
        logits, state = model(inputs, state)  # (B, t, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * targets.numel()
        count += targets.numel()
        progress.set_postfix(ppl=f"{math.exp(total / count):.1f}")
    return total / count


@torch.inference_mode()
def evaluate(model: LanguageModel, data: torch.Tensor, bptt: int) -> float:
    """Mean NLL per token over (B, L) streams, the state carried across windows."""
    model.eval()
    state: State | None = None
    total, count = 0.0, 0
    for inputs, targets in bptt_windows(data, bptt):
        logits, state = model(inputs, state)
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum").item()
        count += targets.numel()
    return total / count


def encode_split(corpus: Corpus, split: str, word_ids: dict[str, int], limit: int) -> torch.Tensor:
    tokens = corpus.splits[split][:limit] if limit else corpus.splits[split]
    unknown = word_ids[UNK]
    return torch.tensor([word_ids.get(token, unknown) for token in tokens], dtype=torch.long)


def train(args: argparse.Namespace) -> ModelCard:
    seed_everything(args.seed)
    device = pick_device(args.device)
    started = time.time()
    corpus = load_corpus(args.data, args.corpus)
    tokenizer = (build_ptb_tokenizer if args.corpus == "ptb" else build_wikitext_tokenizer)(corpus.vocabulary)
    word_ids = {word: index for index, word in enumerate(corpus.vocabulary)}
    train_data = batchify(encode_split(corpus, "train", word_ids, args.limit_tokens), args.batch_size).to(device)
    valid_data = batchify(encode_split(corpus, "valid", word_ids, args.limit_tokens), EVAL_STREAMS).to(device)
    test_data = batchify(encode_split(corpus, "test", word_ids, args.limit_tokens), EVAL_STREAMS).to(device)
    print(f"{args.corpus}: vocabulary {len(word_ids)}; tokens train {train_data.numel()}, valid {valid_data.numel()}, "
          f"test {test_data.numel()}; device {device}")  # fmt: skip

    config = LanguageModelConfig(
        vocab_size=len(word_ids),
        embedding_dim=args.embedding_dim or args.hidden_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        cell=args.cell,
        dropout=args.dropout,
        tie_weights=not args.no_tie,
    )
    model = LanguageModel(config).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    stopper = EarlyStopping(args.patience)
    history: dict[str, list[float]] = {"train_loss": [], "validation_loss": [], "lr": []}
    history, first_epoch, seconds_before = resume(args.checkpoint_dir, model, optimizer, stopper, history)

    stop = stopper.epochs_without_improvement >= args.patience
    for epoch in range(first_epoch, args.epochs + 1):
        if stop:
            break
        train_loss = train_epoch(model, train_data, args.bptt, optimizer, args.clip, f"epoch {epoch}")
        validation_loss = evaluate(model, valid_data, args.bptt)
        improved = validation_loss < stopper.best_loss
        stop = stopper.update(epoch, validation_loss, model)
        lr = optimizer.param_groups[0]["lr"]
        history["train_loss"].append(train_loss)
        history["validation_loss"].append(validation_loss)
        history["lr"].append(lr)
        print(f"epoch {epoch}: train ppl {math.exp(train_loss):.1f} | validation ppl {math.exp(validation_loss):.2f} | "
              f"lr {lr:g} | {time.time() - started:.0f}s")  # fmt: skip
        if not improved:
            # Validation stalled: go back to the best weights and take smaller steps from there.
            model.load_state_dict(stopper.best_state)
            for group in optimizer.param_groups:
                group["lr"] = lr / args.lr_decay
        save_epoch(args.checkpoint_dir, epoch, model, optimizer, stopper, history, seconds_before + time.time() - started)

    model.load_state_dict(stopper.best_state)
    test_loss = evaluate(model, test_data, args.bptt)
    best = stopper.best_epoch - 1
    print(
        f"best epoch {stopper.best_epoch}: validation ppl {math.exp(stopper.best_loss):.2f}, test ppl {math.exp(test_loss):.2f}"
    )

    model.cpu()
    card = ModelCard(
        format=FORMAT_VERSION,
        name=args.name,
        version=weights_version(model),
        task="language-model",
        arch=architectures.describe(model),
        io={
            "corpus": args.corpus,
            "eos_token": EOS,
            "unk_token": UNK,
            "normalization": "ptb: lowercase, numbers -> N, contractions split (do n't, it 's), punctuation PTB drops removed"
            if args.corpus == "ptb"
            else "wikitext-2: case and numbers kept, punctuation split off",
        },
        license="Penn Treebank (LDC99T42), Mikolov's LM preparation: research use"
        if args.corpus == "ptb"
        else "WikiText-2: CC BY-SA 3.0",
        metrics={
            "test_perplexity": round(math.exp(test_loss), 3),
            "validation_perplexity": round(math.exp(history["validation_loss"][best]), 3),
            "test_loss": round(test_loss, 5),
        },
        data={
            "dataset": args.corpus,
            "tokens": {split: len(tokens) for split, tokens in corpus.splits.items()},
            "vocabulary": len(word_ids),
            "sha256": corpus.files,
        },
        training=training_record(args, history, stopper.best_epoch, seconds_before + time.time() - started, device),
        created=now_iso(),
    )
    curves = loss_curves_png(history["train_loss"], history["validation_loss"], f"{args.name}: NLL per token")
    write_artifact(args.out, card, model, tokenizer, {"curves.png": curves})
    print(f"wrote {args.out}: {card.metrics}")
    return card
