"""The sentiment tokenizer: a Hugging Face WordLevel vocabulary over lowercased, de-HTMLed words."""

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

PAD = "<pad>"
UNK = "<unk>"


def build_review_tokenizer(texts: Iterable[str], max_size: int, min_freq: int) -> Tokenizer:
    """Train a vocabulary of at most `max_size` words (specials included) seen >= `min_freq` times.

    <pad> gets id 0 and <unk> id 1. Normalization lives inside the tokenizer file, so the
    service tokenizes exactly as training did.
    """
    tokenizer = Tokenizer(WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(r"<br\s*/?>"), " "),  # IMDB keeps the HTML line breaks
            normalizers.NFKC(),
            normalizers.Lowercase(),
        ]
    )
    # Words and each punctuation mark become separate tokens ("great!" -> "great", "!").
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordLevelTrainer(vocab_size=max_size, min_frequency=min_freq, special_tokens=[PAD, UNK])
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer
