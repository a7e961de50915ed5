"""Series for the forecasters: CSV reading, generated sine waves, chronological parts and windows.

Every series is cut along time, never shuffled across it:

    |<----------------- fit ----------------->|<- test ->|
    | train (70%) | validation (15%) | calib (15%) | test tail |

A window's targets lie wholly inside one part; its context may reach back into earlier
parts, since those values are known at the forecast's origin. Sine waves are split by
wave instead (a wave belongs to one part), and test/calibration waves run on past their
first 1000 steps so that 1000 free-running steps have a truth to compare with.
"""

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecasting.season import last_window
from training.provenance import sha256_of

PART_FRACTIONS = {"train": 0.70, "validation": 0.15, "calibration": 0.15}
STOCK_FEATURES = ["Open", "High", "Low", "Close", "Volume"]
STOCK_TEST_ROWS = 252  # one trading year held out at the end of each ticker


EVALUATION_ORIGINS = 5  # rolling-origin windows in each classic series' test tail


@dataclass(frozen=True)
class UnivariateSpec:
    """One classic series: its file, value column, season (for seasonal naive) and evaluation horizon."""

    file: str
    column: str
    season: int
    horizon: int

    @property
    def test_length(self) -> int:
        """The held-out tail: EVALUATION_ORIGINS back-to-back windows of the horizon."""
        return EVALUATION_ORIGINS * self.horizon


# The four real series `forecast-univariate` trains on. Each test tail holds the five rolling-origin
# windows bench/forecast_eval.py scores (5 x its horizon: monthly 12, daily temperatures 14, births 7),
# so no evaluated value is seen by training, early stopping or calibration. Shampoo sales and ETTh1's
# OT are never read by training at all.
UNIVARIATE_SERIES = {
    "airline-passengers": UnivariateSpec("airline-passengers.csv", "Passengers", 12, 12),
    "monthly-sunspots": UnivariateSpec("monthly-sunspots.csv", "Sunspots", 12, 12),
    "daily-min-temperatures": UnivariateSpec("daily-min-temperatures.csv", "Temp", 365, 14),
    "daily-total-female-births": UnivariateSpec("daily-total-female-births.csv", "Births", 7, 7),
}


@dataclass
class Series:
    name: str
    values: np.ndarray  # (T, F) float32, rows in time order
    features: list[str]
    target: str
    season: int  # 1 when the series has no season: seasonal naive is then naive
    # Steps per evaluated window of the test tail; None: the whole tail is one window.
    horizon: int | None = None
    # Part name -> [start, end) row range; a sine wave has a single part covering its rows.
    parts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def target_index(self) -> int:
        return self.features.index(self.target)


@dataclass
class SeriesSet:
    """What one training run reads: the series, how they were made, and hashes of the files read."""

    kind: str  # univariate | stocks | csv | sine
    series: list[Series]
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256


def read_csv_columns(path: Path, columns: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Rows of a CSV whose first column is the date: the named value columns (default: every other column).

    Rows with a missing value in a kept column are dropped; with a Volume column, so are
    rows whose Volume is 0 (Yahoo's placeholder rows on market holidays).
    """
    with open(path, newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        names = [name.strip() for name in header[1:]]
        wanted = columns or names
        missing = [name for name in wanted if name not in names]
        if missing:
            raise ValueError(f"{path.name} has no column {missing}; it has {names}")
        indices = [names.index(name) + 1 for name in wanted]
        rows = []
        for line_number, row in enumerate(reader, start=2):
            cells = [row[i].strip() if i < len(row) else "" for i in indices]
            if any(cell == "" for cell in cells):
                continue
            try:
                values = [float(cell) for cell in cells]
            except ValueError as error:
                raise ValueError(f"{path.name} line {line_number}: {error}") from error
            if "Volume" in wanted and values[wanted.index("Volume")] <= 0:
                continue
            rows.append(values)
    if not rows:
        raise ValueError(f"{path.name} has no complete rows")
    return np.asarray(rows, dtype=np.float32), list(wanted)


def cut_parts(length: int, test_length: int) -> dict[str, tuple[int, int]]:
    """Chronological [start, end) ranges: train, validation and calibration, then the test tail."""
    if not 0 < test_length < length:
        raise ValueError(f"test length {test_length} must be within 1..{length - 1}")
    fit_end = length - test_length
    train_end = round(fit_end * PART_FRACTIONS["train"])
    validation_end = round(fit_end * (PART_FRACTIONS["train"] + PART_FRACTIONS["validation"]))
    return {
        "train": (0, train_end),
        "validation": (train_end, validation_end),
        "calibration": (validation_end, fit_end),
        "test": (fit_end, length),
    }


def load_univariate(folder: Path) -> SeriesSet:
    series, files = [], {}
    for name, spec in UNIVARIATE_SERIES.items():
        path = folder / spec.file
        values, _ = read_csv_columns(path, [spec.column])
        # One model for any single series: its one feature is just "value", whatever the file calls it.
        parts = cut_parts(len(values), spec.test_length)
        series.append(Series(name, values, ["value"], "value", spec.season, spec.horizon, parts))
        files[spec.file] = sha256_of(path)
    return SeriesSet("univariate", series, files)


def load_stocks(folder: Path) -> SeriesSet:
    """Every ticker CSV in `folder`: Open, High, Low, Close, Volume; the target is Close (not Adj Close)."""
    paths = sorted(folder.glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no .csv files in {folder}")
    series, files = [], {}
    for path in paths:
        values, features = read_csv_columns(path, STOCK_FEATURES)
        series.append(
            Series(path.stem, values, features, "Close", 1, parts=cut_parts(len(values), STOCK_TEST_ROWS))
        )
        files[path.name] = sha256_of(path)
    return SeriesSet("stocks", series, files)


def load_csv(
    path: Path, columns: list[str] | None, target: str | None, test_length: int, season: int
) -> SeriesSet:
    """A user's own CSV: one series, any value columns; the target defaults to the last column."""
    values, features = read_csv_columns(path, columns)
    chosen = target or features[-1]
    if chosen not in features:
        raise ValueError(f"target {chosen!r} is not among the features {features}")
    series = Series(path.stem, values, features, chosen, season, parts=cut_parts(len(values), test_length))
    return SeriesSet("csv", [series], {path.name: sha256_of(path)})


def sine_waves(
    count: int = 100, length: int = 1000, extra: int = 1000, seed: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """The seed's waves, sin((t + shift) / 20) with integer shifts in [-80, 80], plus `extra` steps of truth.

    Returns (waves (count, length + extra), shifts (count,)).
    """
    rng = np.random.default_rng(seed)
    shifts = rng.integers(-80, 81, size=count)
    steps = np.arange(length + extra)
    return np.sin((steps[None, :] + shifts[:, None]) / 20.0).astype(np.float32), shifts


def load_sine(count: int = 100, length: int = 1000, seed: int = 2) -> SeriesSet:
    """Waves split by wave: 20 test, 20 calibration, 10 validation, the rest train.

    Train and validation waves keep the seed's 1000 steps; test and calibration waves also
    carry the next 1000 steps as the truth of a free-running forecast from step 1000.
    """
    waves, _ = sine_waves(count, length, extra=length, seed=seed)
    roles = ["test"] * 20 + ["calibration"] * 20 + ["validation"] * 10
    roles += ["train"] * (count - len(roles))
    series = []
    for index, (wave, role) in enumerate(zip(waves, roles, strict=True)):
        if role in ("train", "validation"):
            values, part = wave[:length], (0, length)
        else:
            values, part = wave, (length, 2 * length)
        series.append(Series(f"wave-{index}", values[:, None], ["value"], "value", 1, parts={role: part}))
    return SeriesSet("sine", series)


def window_origins(
    series: Series, part: str, context: int, horizon: int, stride: int = 1, min_history: int | None = None
) -> np.ndarray:
    """Forecast origins o whose targets [o, o + horizon) lie in `part` and whose context [o - context, o)
    exists, or, given `min_history`, at least that many rows before o (windows_at pads them to `context`)."""
    if part not in series.parts:
        return np.zeros(0, dtype=np.int64)
    start, end = series.parts[part]
    first = max(start, min_history or context)
    last = end - horizon
    return (
        np.arange(first, last + 1, stride, dtype=np.int64) if last >= first else np.zeros(0, dtype=np.int64)
    )


def context_at(series: Series, origin: int, context: int) -> np.ndarray:
    """The `context` rows before `origin`; a shorter history is padded back by its estimated season, as
    served."""
    return last_window(series.values[:origin], context, series.target_index)


def windows_at(
    series: Series, origins: np.ndarray, context: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """(contexts (n, context, F), targets (n, horizon)) for the given origins."""
    width = series.values.shape[1]
    contexts = (
        np.stack([context_at(series, o, context) for o in origins])
        if len(origins)
        else np.zeros((0, context, width))
    )
    column = series.target_index
    targets = (
        np.stack([series.values[o : o + horizon, column] for o in origins])
        if len(origins)
        else np.zeros((0, horizon))
    )
    return contexts.astype(np.float32), targets.astype(np.float32)


def part_windows(
    series_set: SeriesSet,
    part: str,
    context: int,
    horizon: int,
    stride: int = 1,
    min_history: int | None = None,
) -> list[tuple[Series, np.ndarray, np.ndarray]]:
    """For each series with windows in `part`: (series, contexts, targets)."""
    result = []
    for series in series_set.series:
        origins = window_origins(series, part, context, horizon, stride, min_history)
        if len(origins):
            result.append((series, *windows_at(series, origins, context, horizon)))
    return result


def fitted_min_scale(series_set: SeriesSet, context: int) -> list[float]:
    """Per feature, a floor for the window spread: 1% of the median training-window spread.

    Fitted on the train part only; it keeps a flat window (a constant series) from dividing by ~0.
    """
    spreads = []
    for _, contexts, _ in part_windows(series_set, "train", context, 1, stride=max(1, context // 4)):
        spreads.append(contexts.std(axis=1))  # (n, F)
    if not spreads:
        raise ValueError(f"no training window of context {context} fits in any series")
    median = np.median(np.concatenate(spreads), axis=0)
    return [max(1e-6, float(value) * 0.01) if math.isfinite(value) else 1e-6 for value in median]
