"""golden.json from a model's test split: requests a server must answer as the trained network does before
it lets this version take traffic (models/golden.py holds the format and the comparison).

The expected answers are computed here from the network itself, each input alone, in the served
request's terms: what the service answers for the same request, up to float rounding and batching.
"""

import argparse
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from models.artifact import load_artifact
from models.card_io import ForecastIO, LanguageModelIO, SentimentIO
from models.forecaster import Forecaster, forecast_values
from models.golden import GOLDEN_FILE, GoldenCase, GoldenFile, golden_bytes
from models.language_model import LanguageModel
from models.sentiment import SentimentClassifier
from models.text import truncate, words_of
from training import imdb
from training.corpus import load_corpus
from training.forecast.config import ForecastRun, load_series
from training.forecast.data import SeriesSet, context_at

CASES_PER_OPERATION = 4
# Relative tolerance: float sums in another order (a padded batch, another device) stay far inside it, while
# weights that are not the trained ones miss by orders of magnitude.
TOLERANCE = 1e-3
# Characters of a test review sent: a request takes up to 20,000; shorter ones keep the file small.
REVIEW_CHARS = 600
NEXT_WORD_TOP_K = 3


@torch.inference_mode()
def sentiment_golden(
    model: SentimentClassifier, tokenizer: Tokenizer, io: SentimentIO, texts: list[str]
) -> GoldenFile:
    """Class probabilities of the first test reviews (cut to REVIEW_CHARS characters), one request each."""
    model = model.cpu().eval()
    cases = []
    for text in texts[:CASES_PER_OPERATION]:
        text = text[:REVIEW_CHARS]
        ids, _ = truncate(tokenizer.encode(text).ids, io.max_length, io.truncation)
        logits = model(torch.tensor([ids]), torch.tensor([len(ids)]))  # (1, classes)
        probabilities = logits.float().softmax(dim=-1)[0].tolist()
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        expected = {
            "label": io.labels[best],
            "probabilities": dict(zip(io.labels, probabilities, strict=True)),
        }
        cases.append(
            GoldenCase(
                operation="sentiment",
                request={"texts": [text]},
                expected={"results": [expected]},
                tolerance=TOLERANCE,
            )
        )
    return GoldenFile(cases=cases)


def _served_ids(tokenizer: Tokenizer, io: LanguageModelIO, text: str) -> list[int]:
    """The ids the server feeds for `text`: its words as tokenizer.json reads them, unknown ones as <unk>."""
    vocabulary = tokenizer.get_vocab()
    unk = vocabulary[io.unk_token]
    return [vocabulary.get(word, unk) for word in words_of(tokenizer, text)]


@torch.inference_mode()
def language_model_golden(
    model: LanguageModel, tokenizer: Tokenizer, io: LanguageModelIO, test_tokens: list[str]
) -> GoldenFile:
    """The perplexity of the first test sentences, and the next words after their first half."""
    model = model.cpu().eval()
    eos = tokenizer.token_to_id(io.eos_token)
    unk = tokenizer.token_to_id(io.unk_token)
    sentences = [line.split() for line in " ".join(test_tokens).split(io.eos_token)]
    # Whole sentences the server reads as sent: at least 6 words, none of them unknown.
    usable = [" ".join(words) for words in sentences if len(words) >= 6 and io.unk_token not in words]
    cases = []
    for text in usable[:CASES_PER_OPERATION]:
        ids = _served_ids(tokenizer, io, text)
        if unk in ids:
            continue
        inputs = torch.tensor([[eos, *ids]])  # scoring starts as if a sentence had just ended
        logits, _ = model(inputs)  # (1, T, V)
        nll = F.cross_entropy(logits[0], torch.tensor([*ids, eos]), reduction="sum").item()
        cases.append(
            GoldenCase(
                operation="perplexity",
                request={"text": text},
                expected={"perplexity": math.exp(nll / (len(ids) + 1)), "token_count": len(ids) + 1},
                tolerance=TOLERANCE,
            )
        )
        prefix = text.split()[: len(text.split()) // 2]
        prefix_ids = [eos, *_served_ids(tokenizer, io, " ".join(prefix))]
        last, _ = model(torch.tensor([prefix_ids]), last_only=True)  # (1, 1, V)
        probabilities = last[0, -1].float().softmax(dim=-1)
        probabilities[[eos, unk]] = 0.0  # predictions leave out <eos> and <unk>, keeping the others' values
        top = probabilities.topk(NEXT_WORD_TOP_K)
        predictions = [
            {"word": tokenizer.id_to_token(int(index)), "probability": float(value)}
            for value, index in zip(top.values, top.indices, strict=True)
        ]
        cases.append(
            GoldenCase(
                operation="next-word",
                request={"text": " ".join(prefix), "top_k": NEXT_WORD_TOP_K},
                expected={"predictions": predictions},
                tolerance=TOLERANCE,
            )
        )
    return GoldenFile(cases=cases)


@torch.inference_mode()
def forecast_golden(model: Forecaster, io: ForecastIO, series_set: SeriesSet) -> GoldenFile | None:
    """The network's forecast from the `context_length` rows before each series' test part."""
    if "network" not in io.methods:
        return None  # a request could not name the network
    context = io.context_length
    windows = [
        torch.from_numpy(context_at(series, max(series.parts["test"][0], context), context))  # (context, F)
        for series in series_set.series
        if "test" in series.parts
    ]
    model = model.cpu().eval()
    min_scale = torch.tensor(io.scaling.min_scale, dtype=torch.float32)
    horizon = min(12, io.max_horizon)
    cases = []
    for window in windows[:CASES_PER_OPERATION]:
        forecasts, _ = forecast_values(model, window[None].float(), horizon, min_scale)  # (1, horizon)
        rows = window.tolist()
        history = [row[0] for row in rows] if len(io.features) == 1 else rows
        cases.append(
            GoldenCase(
                operation="forecast",
                request={"history": history, "horizon": horizon, "method": "network"},
                expected={"forecast": forecasts[0].tolist()},
                tolerance=TOLERANCE,
            )
        )
    return GoldenFile(cases=cases)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifact", type=Path, required=True, help="the artifact folder to write golden.json into"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="the data it was trained on (default: the card's training.arguments.data; sine needs none)",
    )


def write_golden(arguments: argparse.Namespace) -> None:
    """golden.json for an artifact trained before training wrote one, from the same test split; the weights
    and the card stay as they are."""
    artifact = load_artifact(arguments.artifact)
    card, model = artifact.card, artifact.model
    recorded = dict(card.training.get("arguments", {}))
    data = arguments.data or (Path(recorded["data"]) if recorded.get("data") else None)
    golden: GoldenFile | None
    if isinstance(card.io, SentimentIO) and isinstance(model, SentimentClassifier) and artifact.tokenizer:
        if data is None:
            raise SystemExit("--data is required: the IMDB folder")
        golden = sentiment_golden(model, artifact.tokenizer, card.io, imdb.load_split(data, "test").texts)
    elif isinstance(card.io, LanguageModelIO) and isinstance(model, LanguageModel) and artifact.tokenizer:
        if data is None:
            raise SystemExit("--data is required: the corpus folder")
        test_tokens = load_corpus(data, card.io.corpus).splits["test"]
        golden = language_model_golden(model, artifact.tokenizer, card.io, test_tokens)
    elif isinstance(card.io, ForecastIO) and isinstance(model, Forecaster):
        # Flags added since some cards were written; none plays a part in reading the series.
        older = {"init_weights": None, "arch": "head", "attention": False}
        run = ForecastRun.from_arguments(argparse.Namespace(**{**older, **recorded, "data": data}))
        golden = forecast_golden(model, card.io, load_series(run))
    else:
        raise SystemExit(
            f"{arguments.artifact}: no golden cases for a {card.task} model of {card.arch['type']}"
        )
    if golden is None or not golden.cases:
        raise SystemExit(f"{arguments.artifact}: its test split gave no golden case")
    staging = arguments.artifact / f".{GOLDEN_FILE}.tmp"
    staging.write_bytes(golden_bytes(golden))
    staging.chmod(0o644)
    staging.rename(arguments.artifact / GOLDEN_FILE)  # a server reading the folder meets the whole file
    print(f"wrote {arguments.artifact / GOLDEN_FILE}: {len(golden.cases)} cases")
