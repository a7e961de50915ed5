"""What queued work will cost, learnt from the batches a model runs: the batcher's load shedding reads it.

Each item has a kind and a size in that kind's units (tokens of perplexity text, characters of reviews,
forecast steps). Per kind, one batch takes about `fixed + per_unit x units`: the fixed part (a forward's
overhead, whatever its size) dominates small batches and the per-unit part large ones, so a rate learnt
from small batches alone would overestimate large ones a hundredfold. The two are fitted by least squares
over recent batches, the past decaying, from the batches timed at load (the runner's calibration, two
sizes at least) onwards. Until a kind has been seen at two sizes, its time is taken as proportional to its
units (the fit through the origin).
"""

import math
from dataclasses import dataclass

Cost = tuple[str, float]  # an item's kind of work and its size in that kind's units
DECAY = 0.8  # the past's weight at each new batch: the estimate follows a model whose speed drifts
SAME_SIZE = (
    0.05  # batch sizes within 5 % of their mean tell fixed from per-unit time apart no better than one
)


@dataclass
class _Line:
    """Decayed sums over one kind's batches: units x, seconds y."""

    weight: float = 0.0
    units: float = 0.0
    seconds: float = 0.0
    squares: float = 0.0  # of units
    products: float = 0.0  # units x seconds

    def add(self, units: float, seconds: float) -> None:
        self.weight = DECAY * self.weight + 1
        self.units = DECAY * self.units + units
        self.seconds = DECAY * self.seconds + seconds
        self.squares = DECAY * self.squares + units * units
        self.products = DECAY * self.products + units * seconds

    def fit(self) -> tuple[float, float]:
        """(fixed seconds per batch, seconds per unit), neither negative."""
        mean_units, mean_seconds = self.units / self.weight, self.seconds / self.weight
        through_origin = self.products / self.squares if self.squares > 0 else 0.0
        variance = self.squares / self.weight - mean_units**2
        if variance <= (SAME_SIZE * mean_units) ** 2:
            return 0.0, through_origin
        per_unit = (self.products / self.weight - mean_units * mean_seconds) / variance
        fixed = mean_seconds - per_unit * mean_units
        if per_unit <= 0:
            return mean_seconds, 0.0
        if fixed < 0:
            return 0.0, through_origin
        return fixed, per_unit


class CostModel:
    def __init__(self, max_batch_size: int) -> None:
        self.max_batch_size = max_batch_size
        self.lines: dict[str, _Line] = {}

    def learn(self, costs: list[Cost], seconds: float) -> None:
        """One batch's items and its time; a batch of several kinds is split by each kind's predicted time."""
        units: dict[str, float] = {}
        for kind, size in costs:
            units[kind] = units.get(kind, 0.0) + size
        predicted = {kind: self._batch_seconds(kind, amount) for kind, amount in units.items()}
        if sum(predicted.values()) <= 0:
            predicted = units
        total = sum(predicted.values()) or 1.0  # a batch of items all of size 0: nothing to split
        for kind, amount in units.items():
            self.lines.setdefault(kind, _Line()).add(amount, seconds * predicted[kind] / total)

    def wait(self, units: dict[str, float], items: dict[str, int]) -> float:
        """Seconds to run queued work: per kind, its units and items (batched max_batch_size at a time).
        A kind not yet timed counts as free: the batcher never sheds on a guess."""
        total = 0.0
        for kind, amount in units.items():
            line = self.lines.get(kind)
            if line is None or items.get(kind, 0) <= 0:
                continue
            fixed, per_unit = line.fit()
            total += math.ceil(items[kind] / self.max_batch_size) * fixed + per_unit * amount
        return total

    def _batch_seconds(self, kind: str, amount: float) -> float:
        """A kind's predicted time in a batch; a kind not yet seen at the mean rate of those that were."""
        line = self.lines.get(kind)
        if line is None:
            rates = [other.fit()[1] for other in self.lines.values()]
            return amount * (sum(rates) / len(rates) if rates else 1.0)
        fixed, per_unit = line.fit()
        return fixed + per_unit * amount
