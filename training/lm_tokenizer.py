"""Language-model tokenizers: a WordLevel vocabulary plus the normalization its corpus was prepared with.

PTB (Mikolov's version) is lowercase, numbers are `N`, contractions are split
(`don't` -> `do n't`, `it's` -> `it 's`), `$`, `&`, `#`, `'`, in-word hyphens and the
periods of abbreviations (`mr.`, `u.s.`, `corp.`) are kept, other punctuation is gone.
The normalizer below does the same to a user's text, so the service needs no rules
of its own. WikiText-2 is already tokenized, keeps case, numbers and punctuation;
user text only has its punctuation split off.
"""

import re

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel

EOS = "<eos>"
UNK = "<unk>"
_UNK_MARK = "\u0001"  # stands in for <unk> while punctuation is removed (Replace has no back-references)


def build_vocabulary_tokenizer(
    words: list[str], normalization: normalizers.Normalizer, pre_tokenizer: pre_tokenizers.PreTokenizer
) -> Tokenizer:
    vocabulary = {word: index for index, word in enumerate(words)}
    tokenizer = Tokenizer(WordLevel(vocabulary, unk_token=UNK))
    tokenizer.normalizer = normalization
    tokenizer.pre_tokenizer = pre_tokenizer
    return tokenizer


def ptb_normalizer(vocabulary: list[str]) -> normalizers.Normalizer:
    """PTB's preparation as regex rewrites. A word-final period is dropped unless `word.` is in the
    vocabulary."""
    abbreviations = sorted(
        {word[:-1] for word in vocabulary if word.endswith(".") and len(word) > 1}, key=len, reverse=True
    )
    keep_period = "|".join(rf"\b{re.escape(stem)}" for stem in abbreviations) or "^$"
    return normalizers.Sequence(
        [
            normalizers.NFKC(),
            normalizers.Lowercase(),
            normalizers.Replace(UNK, f" {_UNK_MARK} "),  # text already in PTB form keeps its <unk>
            normalizers.Replace(Regex(r"(?<![\w'.])n(?![\w'.])"), "N"),  # ... and its N
            normalizers.Replace(Regex(r"[’‘`]"), "'"),
            normalizers.Replace(Regex(r"n't\b"), " n't"),  # don't -> do n't, can't -> ca n't
            normalizers.Replace(Regex(r"'(?=(s|re|ve|d|ll|m)\b)"), " '"),  # it's -> it 's, we've -> we 've
            normalizers.Replace("$", " $ "),  # Replace takes literal text: no back-references
            normalizers.Replace("#", " # "),
            normalizers.Replace("%", " N "),  # PTB writes "5 %" as "N N"
            normalizers.Replace(Regex(r"(?<![\w.])\d[\d,.]*(?![\w])"), "N"),  # 1,200.50 -> N, but 1980s stays
            normalizers.Replace(Regex(r"[^a-z0-9N$&'.#\-\s\x{1}]"), " "),  # punctuation PTB does not keep
            normalizers.Replace(Regex(rf"(?<!{keep_period})\.(?=\s|$)"), " "),  # sentence ends, not "mr."
            normalizers.Replace(Regex(r"(?<=\s|^)['.\-]+(?=\s|$)|--+"), " "),  # stray quotes, dots and dashes
            normalizers.Replace(_UNK_MARK, UNK),
        ]
    )


def build_ptb_tokenizer(words: list[str]) -> Tokenizer:
    return build_vocabulary_tokenizer(words, ptb_normalizer(words), pre_tokenizers.WhitespaceSplit())


def build_wikitext_tokenizer(words: list[str]) -> Tokenizer:
    return build_vocabulary_tokenizer(
        words,
        normalizers.NFKC(),
        pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]),
    )
