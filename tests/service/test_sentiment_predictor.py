from pathlib import Path

import pytest
import torch

from models.artifact import load_artifact
from service.runtime.contract import group_by_length
from service.schemas.sentiment import SentimentRequest
from service.tasks.sentiment import SentimentPredictor, SentimentRunner


def test_group_by_length_keeps_each_group_within_the_ratio() -> None:
    lengths = [3, 100, 4, 98, 6, 7, 50]
    groups = group_by_length(lengths, 2.0)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    assert groups == [[0, 2, 4], [5], [6, 3, 1]]
    for group in groups:
        assert max(lengths[i] for i in group) <= 2 * min(lengths[i] for i in group)


def test_forward_groups_by_length_and_answers_as_single_items(artifacts_dir: Path) -> None:
    runner = SentimentRunner(load_artifact(artifacts_dir / "sentiment"), torch.device("cpu"))
    observed: list[tuple[int, int]] = []
    runner.padding_observer = lambda real, total: observed.append((real, total))
    texts = ["great", "the plot was awful " * 8, "dull film", "a superb and moving story " * 7]
    prepared = SentimentPredictor(runner).preprocess(SentimentRequest(texts=texts)).items
    batched = runner.forward(prepared)
    real = sum(real for real, _ in observed)
    total = sum(total for _, total in observed)
    assert real == sum(len(output.encoded.token_ids) for output in batched)
    assert 1 - real / total < 0.5  # one padded batch of all four would be mostly padding
    for item, output in zip(prepared, batched, strict=True):
        assert output.probabilities == pytest.approx(runner.forward([item])[0].probabilities, abs=1e-5)
