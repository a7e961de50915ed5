"""Each committed forecaster on its held-out data, beside the naive and seasonal-naive baselines.

python -m bench.forecast_quality [--data-root ../shared/data] [--artifacts artifacts] [--plots
runs/forecast-quality]

Recomputes, from the artifact files alone, the figures its card records: MSE, MAE, MASE and
the coverage of the 80% conformal interval, with the baselines on the same held-out values.
Writes one forecast picture per model into --plots.
"""

import argparse
import time
from pathlib import Path

from bench.common import REPO, data_dir, skip
from models.artifact import load_artifact, read_card
from models.card_io import ForecastIO
from models.forecaster import Forecaster
from training.forecast import data as forecast_data
from training.forecast.evaluate import evaluate, format_rows
from training.plots import forecast_png

DATASET_FOLDERS = {"univariate": "timeseries", "stocks": "stocks"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding timeseries/ and stocks/")
    parser.add_argument(
        "--artifacts", type=Path, default=REPO / "artifacts", help="folder of artifact folders"
    )
    parser.add_argument(
        "--plots", type=Path, default=REPO / "runs" / "forecast-quality", help="where pictures go"
    )
    args = parser.parse_args()
    folders = sorted(
        p for p in args.artifacts.iterdir() if (p / "card.json").is_file() and read_card(p).task == "forecast"
    )
    if not folders:
        skip(f"no forecast artifacts in {args.artifacts}")
    args.plots.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        artifact = load_artifact(folder)
        card = artifact.card
        preset = card.data["dataset"]
        if preset == "sine":
            series_set = forecast_data.load_sine(seed=card.training["seed"])
        elif preset in DATASET_FOLDERS:
            root = data_dir(
                args.data_root / DATASET_FOLDERS[preset] if args.data_root else None, DATASET_FOLDERS[preset]
            )
            if root is None:
                print(f"\n## {card.name}: SKIPPED, {DATASET_FOLDERS[preset]}/ is absent (see README, 'Data')")
                continue
            loader = forecast_data.load_univariate if preset == "univariate" else forecast_data.load_stocks
            series_set = loader(root)
        else:
            print(f"\n## {card.name}: SKIPPED, trained on a user CSV ({preset}); its data is not known here")
            continue
        if not isinstance(artifact.model, Forecaster) or not isinstance(card.io, ForecastIO):
            print(f"\n## {card.name}: SKIPPED, not a forecaster")
            continue
        began = time.perf_counter()
        io = card.io
        evaluation = evaluate(artifact.model, series_set, io)
        print(
            f"\n## {card.name} (version {card.version}): {io.multi_step}, context {io.context_length}, "
            # fmt: skip
            f"max horizon {io.max_horizon}, features {io.features}, {time.perf_counter() - began:.1f} s\n"
        )
        print(format_rows(evaluation.rows))
        differing = {
            k: (v, card.metrics[k])
            for k, v in evaluation.metrics.items()
            if abs(card.metrics.get(k, v) - v) > 1e-4
        }
        print(f"\nmatches the card's metrics: {'yes' if not differing else f'no, (now, card) = {differing}'}")
        if evaluation.picture is not None:
            picture_path = args.plots / f"{card.name}.png"
            picture_path.write_bytes(forecast_png(evaluation.picture))
            print(f"picture: {picture_path}")


if __name__ == "__main__":
    main()
