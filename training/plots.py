"""Pictures that go beside an artifact, rendered to PNG bytes."""

import io

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402


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
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
