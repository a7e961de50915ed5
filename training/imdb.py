"""IMDB reviews (Maas et al. 2011) from either the aclImdb tree or the jsonl.gz form."""

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from training.provenance import sha256_of


@dataclass
class Reviews:
    texts: list[str]
    labels: list[int]  # 1 = positive, 0 = negative
    files: dict[str, str]  # file read -> sha256 (the tree form records its folder, hashed as a listing)


def load_split(root: Path, split: str) -> Reviews:
    """Read `split` ("train" or "test") from `root`.

    `root` holds either `<split>.jsonl.gz` (records with `text` and `label`) or the
    original tree `<split>/pos/*.txt`, `<split>/neg/*.txt` (aclImdb/ itself or its parent).
    """
    root = Path(root)
    jsonl = root / f"{split}.jsonl.gz"
    if jsonl.is_file():
        return _load_jsonl(jsonl)
    for tree in (root, root / "aclImdb"):
        if (tree / split / "pos").is_dir() and (tree / split / "neg").is_dir():
            return _load_tree(tree / split)
    raise FileNotFoundError(
        f"no IMDB {split} split under {root}: expected {split}.jsonl.gz or {split}/pos and {split}/neg "
        "(the aclImdb tree from https://ai.stanford.edu/~amaas/data/sentiment/)"
    )


def _load_jsonl(path: Path) -> Reviews:
    texts, labels = [], []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            texts.append(record["text"])
            labels.append(int(record["label"]))
    return Reviews(texts, labels, {path.name: sha256_of(path)})


def _load_tree(split_dir: Path) -> Reviews:
    texts, labels = [], []
    for label, folder in ((0, "neg"), (1, "pos")):
        for path in sorted((split_dir / folder).glob("*.txt")):
            texts.append(path.read_text(encoding="utf-8"))
            labels.append(label)
    return Reviews(texts, labels, {f"{split_dir.name}/": f"{len(texts)} files"})
