"""Pictures that go beside an artifact, rendered to PNG bytes."""

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen before pyplot loads)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


@dataclass
class ForecastPicture:
    """One held-out window, for forecast.png."""

    title: str
    history: np.ndarray
    actual: np.ndarray
    forecast: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def loss_curves_png(train_loss: list[float], validation_loss: list[float], title: str) -> bytes:
    figure, axes = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(train_loss) + 1)
    axes.plot(epochs, train_loss, marker="o", label="train")
    axes.plot(epochs, validation_loss, marker="o", label="validation")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)
    return _to_png(figure)


def forecast_png(picture: ForecastPicture) -> bytes:
    """History, actual continuation, forecast and its 80% conformal band on one held-out window."""
    figure, axes = plt.subplots(figsize=(8, 4))
    past = range(len(picture.history))
    future = range(len(picture.history), len(picture.history) + len(picture.forecast))
    axes.plot(past, picture.history, color="black", linewidth=1, label="history")
    axes.plot(future, picture.actual, color="black", linestyle="--", linewidth=1, label="actual")
    axes.plot(future, picture.forecast, color="tab:blue", linewidth=1.5, label="forecast")
    axes.fill_between(future, picture.lower, picture.upper, color="tab:blue", alpha=0.2, label="80% interval")
    axes.set_xlabel("step")
    axes.set_title(picture.title)
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    return _to_png(figure)


def _to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
