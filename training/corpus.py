"""Word-level corpora for the language model (PTB, WikiText-2) and their layout into BPTT streams."""

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from training.lm_tokenizer import EOS, UNK
from training.provenance import sha256_of

CORPUS_FILES = {
    "ptb": {split: f"ptb.{split}.txt" for split in ("train", "valid", "test")},
    "wikitext-2": {split: f"wiki.{split}.tokens" for split in ("train", "valid", "test")},
}


@dataclass
class Corpus:
    name: str
    splits: dict[str, list[str]]  # split -> every token, with <eos> closing each line
    vocabulary: list[str]  # the training split's words by frequency, plus <eos> and <unk>
    files: dict[str, str]  # file -> sha256


def read_tokens(path: Path) -> list[str]:
    """One sentence (or paragraph) a line; each non-blank line ends with <eos>, as in pytorch/examples."""
    tokens: list[str] = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            words = line.split()
            if words:
                tokens.extend(words)
                tokens.append(EOS)
    return tokens


def load_corpus(root: Path, name: str) -> Corpus:
    files = CORPUS_FILES[name]
    missing = [file for file in files.values() if not (Path(root) / file).is_file()]
    if missing:
        raise FileNotFoundError(f"{name} files missing under {root}: {missing}")
    splits = {split: read_tokens(Path(root) / file) for split, file in files.items()}
    counts = Counter(splits["train"])
    # Words seen only outside train are not in the vocabulary: they read as <unk>.
    vocabulary = [word for word, _ in counts.most_common() if word not in (EOS, UNK)] + [EOS, UNK]
    return Corpus(name, splits, vocabulary, {file: sha256_of(Path(root) / file) for file in files.values()})


def batchify(ids: torch.Tensor, streams: int) -> torch.Tensor:
    """Lay a 1-D id sequence out as `streams` parallel rows (B, L); the remainder is dropped.

        corpus  a b c d e f g h i j k l m n o p q r s t u v w x      streams = 4
                ┌ a b c d e f ┐
                │ g h i j k l │   each row is one contiguous stretch of the corpus,
                │ m n o p q r │   so a row's hidden state can be carried from one
                └ s t u v w x ┘   window to the next (truncated BPTT)

    Rows are independent: the model never sees 'f' followed by 'g'.
    """
    length = ids.size(0) // streams
    return ids[: length * streams].view(streams, length)


def bptt_windows(data: torch.Tensor, bptt: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive windows over (B, L) streams: inputs (B, t) and targets (B, t) shifted by one, t <= bptt.

    With bptt 3 the rows above give inputs [a b c] -> targets [b c d], then [d e] -> [e f].
    """
    windows = []
    for start in range(0, data.size(1) - 1, bptt):
        length = min(bptt, data.size(1) - 1 - start)
        windows.append((data[:, start : start + length], data[:, start + 1 : start + 1 + length]))
    return windows
