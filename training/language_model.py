"""Train the word-level RNN language model with truncated BPTT and write its artifact."""

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from models.card_io import LanguageModelIO
from models.language_model import CellType, LanguageModel, LanguageModelConfig, State
from training import distributed
from training.corpus import Corpus, batchify, bptt_windows, load_corpus
from training.early_stopping import EarlyStopping
from training.golden import language_model_golden
from training.lm_tokenizer import EOS, UNK, build_ptb_tokenizer, build_wikitext_tokenizer
from training.loop import EpochStats, Finished, Fit, RunConfig, RunDefaults, Trainer

EVAL_STREAMS = 10  # the usual PTB evaluation batch size (Zaremba et al., pytorch/examples)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with ptb.{train,valid,test}.txt or wiki.*.tokens"
    )
    parser.add_argument(
        "--corpus", choices=["ptb", "wikitext-2"], default="ptb", help="which corpus the folder holds"
    )
    RunConfig.add_arguments(parser, RunDefaults(name="lm-ptb", epochs=40, patience=3, seed=1111))
    parser.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="lstm", help="recurrent cell type")
    parser.add_argument(
        "--hidden-size",
        type=int,
        default=200,
        help="recurrent units per layer (and embedding size when tied)",
    )
    parser.add_argument(
        "--embedding-dim", type=int, default=0, help="word vector size (0: same as --hidden-size)"
    )
    parser.add_argument("--num-layers", type=int, default=2, help="stacked recurrent layers")
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.2,
        help="dropout on embeddings, between layers and before the decoder",
    )
    parser.add_argument("--no-tie", action="store_true", help="do not share input and output word vectors")
    parser.add_argument("--batch-size", type=int, default=20, help="parallel streams during training")
    parser.add_argument("--bptt", type=int, default=35, help="steps per truncated-BPTT window")
    parser.add_argument("--lr", type=float, default=20.0, help="initial SGD learning rate")
    parser.add_argument(
        "--lr-decay", type=float, default=4.0, help="divide the learning rate by this when validation stalls"
    )
    parser.add_argument("--clip", type=float, default=0.25, help="gradient norm clipping")
    parser.add_argument(
        "--limit-tokens",
        type=int,
        default=0,
        help="use only this many tokens of each split (0: all); smoke runs",
    )


@dataclass(frozen=True, kw_only=True)
class LanguageModelRun(RunConfig):
    data: Path
    corpus: Literal["ptb", "wikitext-2"]
    cell: CellType
    hidden_size: int
    embedding_dim: int  # 0: same as hidden_size
    num_layers: int
    dropout: float
    no_tie: bool
    batch_size: int  # parallel streams
    bptt: int
    lr: float
    lr_decay: float
    clip: float
    limit_tokens: int


def detach(state: State) -> State:
    """Cut the graph at the window boundary: the state's values carry over, its history does not.

    Without this, backpropagation would run through every window since the start of the epoch.
    """
    if isinstance(state, tuple):
        return (state[0].detach(), state[1].detach())
    return state.detach()


def train_epoch(
    model: nn.Module,
    data: torch.Tensor,
    bptt: int,
    optimizer: torch.optim.Optimizer,
    clip: float,
    description: str,
    show_progress: bool = True,
) -> EpochStats:
    """One pass over the (B, L) streams; returns the mean training NLL per token and the tokens seen.

    Under torchrun each rank holds as many streams as the others, so every rank's windows have as
    many tokens and DDP's average of the ranks' mean losses is the mean over all streams.
    """
    model.train()
    state: State | None = None
    total, count = 0.0, 0
    progress = tqdm(
        bptt_windows(data, bptt), desc=description, leave=False, mininterval=5, disable=not show_progress
    )
    for inputs, targets in progress:
        if state is not None:
            state = detach(state)
        logits, state = model(inputs, state)  # (B, t, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * targets.numel()
        count += targets.numel()
        progress.set_postfix(ppl=f"{math.exp(total / count):.1f}")
    return EpochStats(total / count, count)


def evaluate(model: LanguageModel, data: torch.Tensor, bptt: int) -> float:
    """Mean NLL per token over (B, L) streams, the state carried across windows."""
    total, count = summed_nll(model, data, bptt)
    return total / count


@torch.inference_mode()
def summed_nll(model: LanguageModel, data: torch.Tensor, bptt: int) -> tuple[float, int]:
    """Summed NLL and the tokens it covers, over (B, L) streams (B may be 0: a rank with no validation
    stream)."""
    if data.size(0) == 0:
        return 0.0, 0
    model.eval()
    state: State | None = None
    total, count = 0.0, 0
    for inputs, targets in bptt_windows(data, bptt):
        logits, state = model(inputs, state)
        total += F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum"
        ).item()
        count += targets.numel()
    return total, count


def encode_split(corpus: Corpus, split: str, word_ids: dict[str, int], limit: int) -> torch.Tensor:
    tokens = corpus.splits[split][:limit] if limit else corpus.splits[split]
    unknown = word_ids[UNK]
    return torch.tensor([word_ids.get(token, unknown) for token in tokens], dtype=torch.long)


class LanguageModelTrainer(Trainer[LanguageModel]):
    config: LanguageModelRun

    def setup(self) -> None:
        config = self.config
        self.corpus = load_corpus(config.data, config.corpus)
        build_tokenizer = build_ptb_tokenizer if config.corpus == "ptb" else build_wikitext_tokenizer
        self.tokenizer = build_tokenizer(self.corpus.vocabulary)
        word_ids = {word: index for index, word in enumerate(self.corpus.vocabulary)}
        if config.batch_size % self.world.size:
            raise SystemExit(
                f"--batch-size {config.batch_size} (streams) must divide among {self.world.size} processes"
            )
        # Each rank trains on its own contiguous block of streams, so truncated BPTT carries each stream's
        # state.
        share = config.batch_size // self.world.size
        streams = self._streams(word_ids, "train", config.batch_size)
        self.train_data = streams[self.world.rank * share : (self.world.rank + 1) * share]
        self.valid_data = self._streams(word_ids, "valid", EVAL_STREAMS)
        self.test_data = self._streams(word_ids, "test", EVAL_STREAMS)
        print(
            f"{config.corpus}: vocabulary {len(word_ids)}; tokens train {self.train_data.numel()}, "
            # fmt: skip
            f"valid {self.valid_data.numel()}, test {self.test_data.numel()}; device {self.device}"
        )
        network = LanguageModelConfig(
            vocab_size=len(word_ids),
            embedding_dim=config.embedding_dim or config.hidden_size,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            cell=config.cell,
            dropout=config.dropout,
            tie_weights=not config.no_tie,
        )
        self.model = LanguageModel(network).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr)

    def _streams(self, word_ids: dict[str, int], split: str, streams: int) -> torch.Tensor:
        return batchify(encode_split(self.corpus, split, word_ids, self.config.limit_tokens), streams).to(
            self.device
        )

    def train_epoch(self, epoch: int) -> EpochStats:
        return train_epoch(
            self.train_model,
            self.train_data,
            self.config.bptt,
            self.optimizer,
            self.config.clip,
            f"epoch {epoch}",
        )

    def validate(self) -> tuple[float, dict[str, float]]:
        """Each rank scores its share of the validation streams; the sums are added across ranks."""
        streams = self.valid_data[self.world.rank :: self.world.size]
        total, count = distributed.sum_across(
            list(summed_nll(self.model, streams, self.config.bptt)), self.world, self.device
        )
        return total / count, {"lr": float(self.optimizer.param_groups[0]["lr"])}

    def after_validation(self, improved: bool, stopper: EarlyStopping) -> None:
        """Validation stalled: go back to the best weights and take smaller steps from there."""
        if improved:
            return
        self.model.load_state_dict(stopper.best_state)
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] / self.config.lr_decay

    def finish(self, fit: Fit) -> Finished:
        config = self.config
        test_loss = evaluate(self.model, self.test_data, config.bptt)
        print(
            f"best epoch {fit.best_epoch}: validation ppl {math.exp(fit.best_loss):.2f}, test ppl "
            f"{math.exp(test_loss):.2f}"
        )
        ptb = config.corpus == "ptb"
        card = self.card(
            fit,
            "language-model",
            io=LanguageModelIO(
                corpus=config.corpus,
                eos_token=EOS,
                unk_token=UNK,
                normalization="ptb: lowercase, numbers -> N, contractions split (do n't, it 's), punctuation "
                "PTB drops removed"
                if ptb
                else "wikitext-2: case and numbers kept, punctuation split off",
            ),
            license="Penn Treebank (LDC99T42), Mikolov's LM preparation: research use"
            if ptb
            else "WikiText-2: CC BY-SA 3.0",
            metrics={
                "test_perplexity": round(math.exp(test_loss), 3),
                "validation_perplexity": round(math.exp(fit.at_best("validation_loss")), 3),
                "test_loss": round(test_loss, 5),
            },
            data={
                "dataset": config.corpus,
                "tokens": {split: len(tokens) for split, tokens in self.corpus.splits.items()},
                "vocabulary": len(self.corpus.vocabulary),
                "sha256": self.corpus.files,
            },
        )
        assert isinstance(card.io, LanguageModelIO)
        golden = language_model_golden(self.model, self.tokenizer, card.io, self.corpus.splits["test"])
        return Finished(card, self.tokenizer, self.loss_curves(fit, "NLL per token"), golden)


def trainer_from(arguments: argparse.Namespace) -> LanguageModelTrainer:
    return LanguageModelTrainer(LanguageModelRun.from_arguments(arguments))
