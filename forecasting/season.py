"""A univariate history's season length: given, from its frequency, or estimated from its
autocorrelation; and back-padding by that season.

A request may give the season, or the frequency (the season follows: hourly 24, daily 7, ...); else the
model's card may name the frequency; else the season is estimated from the history. The service says
which it used, pads a history shorter than the network's context by repeating its first season
backwards, and gives the season to the statistical models it compares the network with. Training pads
its short windows the same way, so the network sees at training what it is served.
"""

from typing import Literal

import numpy as np
import numpy.typing as npt

from models.card_io import Frequency

FloatArray = npt.NDArray[np.float64]

# A lag is a season when its autocorrelation peak rises at least this much above the lowest
# autocorrelation at shorter lags: lower peaks are mostly noise on the histories served here.
MIN_PEAK_RISE = 0.3
# ... and well above what noise alone gives: a peak and a trough each wander by 1 / sqrt(points)
NOISE_WIDTHS = 5.0
MIN_PEAK = 0.2  # ... and the peak itself at least this high
PEAK_WIDTHS = 3.0  # ... and this many times the noise
NEAR_UNIT_ROOT = 0.95
# Every estimated season fits at least this many times in the history it was estimated from.
MIN_SEASONS_SEEN = 2
MAX_SEASON = 400  # covers daily data with a yearly season (365)

# The season each frequency implies; seconds and minutes have none that holds widely: estimated.
FREQUENCY_SEASONS: dict[str, int | None] = {
    "S": None, "second": None, "T": None, "minute": None, "H": 24, "hour": 24, "D": 7, "day": 7,
    "W": 52, "week": 52, "M": 12, "month": 12, "Q": 4, "quarter": 4, "Y": 1, "year": 1,
}  # fmt: skip
SeasonSource = Literal["given", "estimated"]


def chosen_season(
    values: FloatArray, season: int | None, frequency: Frequency | None, card_frequency: Frequency | None
) -> tuple[int, SeasonSource]:
    """The season a history is forecast with, and whether it was given (as a season, or by the request's
    or the card's frequency) or estimated. A season given wins over a frequency; the request's frequency
    over the card's."""
    if season is not None:
        return season, "given"
    for named in (frequency, card_frequency):
        if named is not None:
            implied = FREQUENCY_SEASONS[named]
            return (implied, "given") if implied is not None else (estimate_season(values), "estimated")
    return estimate_season(values), "estimated"


def autocorrelation(values: FloatArray, max_lag: int) -> FloatArray:
    """Autocorrelation at lags 0..max_lag of a series with its straight-line trend removed, by FFT."""
    steps = np.arange(len(values), dtype=np.float64)
    slope, intercept = np.polyfit(steps, values, 1)
    centered = values - (slope * steps + intercept)
    size = 1 << int(np.ceil(np.log2(2 * len(values))))  # zero-padded: a linear, not circular, correlation
    spectrum = np.fft.rfft(centered, size)
    correlation = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    variance = correlation[0]
    if variance <= 0:  # a constant (or straight-line) history has no season
        return np.zeros(max_lag + 1)
    result: FloatArray = correlation / variance
    return result


def estimate_season(values: FloatArray, max_season: int = MAX_SEASON) -> int:
    """The lag (2..max_season, seen MIN_SEASONS_SEEN times) whose autocorrelation peak rises most above the
    trough before it; 1 when no peak clears the noise floor.

    A rise, not a height: a slowly decaying autocorrelation (a long season, a persistent series) is high
    at every short lag, and its small wiggles are peaks too, but they rise above nothing. A history
    that wanders like a random walk (lag-1 autocorrelation above NEAR_UNIT_ROOT) is differenced first:
    its level's autocorrelation swings widely by chance, while a season shows in its changes too.
    """
    series = np.asarray(values, dtype=np.float64)
    limit = min(max_season, len(series) // MIN_SEASONS_SEEN)
    if limit < 2:
        return 1
    acf = autocorrelation(series, limit + 1)
    if acf[1] > NEAR_UNIT_ROOT:
        series = np.diff(series)
        limit = min(limit, (len(series) - 1) // MIN_SEASONS_SEEN)
        if limit < 2:
            return 1
        acf = autocorrelation(series, limit + 1)
    lags = np.arange(2, limit + 1)
    peaks = lags[(acf[lags] > acf[lags - 1]) & (acf[lags] >= acf[lags + 1]) & (acf[lags] > 0)]
    trough = np.minimum.accumulate(acf)  # trough[k]: the lowest autocorrelation at lags 0..k
    rises = acf[peaks] - trough[peaks - 1]
    # An autocorrelation estimated from n points wanders by about 1 / sqrt(n) on its own: a season's peak
    # rises well above that, and is itself clearly positive.
    noise = 1 / np.sqrt(len(series))
    clear = (rises >= max(MIN_PEAK_RISE, NOISE_WIDTHS * noise)) & (
        acf[peaks] >= max(MIN_PEAK, PEAK_WIDTHS * noise)
    )
    if not clear.any():
        return 1
    return int(peaks[clear][np.argmax(rises[clear])])


def last_window(rows: FloatArray, length: int, target_index: int) -> FloatArray:
    """The last `length` rows (T, F); fewer are padded back by the season of their target column (pad_to).
    The one rule for a short history, used by training and by the service alike."""
    tail = rows[-length:]
    if len(tail) == length:
        return tail
    return pad_to(tail, length, estimate_season(tail[:, target_index]))


def pad_to(values: FloatArray, length: int, season: int) -> FloatArray:
    """Rows (T, F) extended at the front to `length` rows by repeating the first season backwards:
    each added row copies the row one season after it (season 1: the first row). T >= season."""
    missing = length - len(values)
    if missing <= 0:
        return values
    if len(values) < season:
        raise ValueError(f"cannot pad by a season of {season} from {len(values)} rows")
    # Position i of the padded prefix (i < missing) copies the row a whole number of seasons later:
    # row (i - missing) mod season of the first season.
    prefix = values[(np.arange(missing) - missing) % season]
    return np.concatenate([prefix, values])
