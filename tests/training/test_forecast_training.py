"""Forecast training: reading, chronological parts, leakage, baselines, conformal coverage, and round
trips."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file

from forecasting import metrics as fm
from forecasting.intervals import conformal_offsets, interval
from forecasting.metrics import coverage
from models.artifact import WEIGHTS_FILE, load_artifact
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import wait_until_ready
from training.cli import main
from training.forecast import data as forecast_data
from training.forecast.data import (
    UNIVARIATE_SERIES,
    cut_parts,
    part_windows,
    read_csv_columns,
    window_origins,
)
from training.forecast.train import WindowSampler

FAST = [
    "--epochs",
    "2",
    "--steps-per-epoch",
    "3",
    "--hidden-size",
    "8",
    "--num-layers",
    "1",
    "--batch-size",
    "8",
]


def seasonal_values(length: int, season: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [
        50 + 0.1 * t + 10 * math.sin(2 * math.pi * t / season) + float(rng.normal(0, 1))
        for t in range(length)
    ]


def write_series_csv(path: Path, header: list[str], rows: list[list[object]], crlf: bool = False) -> Path:
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_classic_folder(root: Path) -> Path:
    """The four files the univariate preset reads, with their real names and columns, made up here."""
    root.mkdir(parents=True, exist_ok=True)
    lengths = {
        "airline-passengers": 144,
        "monthly-sunspots": 300,
        "daily-min-temperatures": 400,
        "daily-total-female-births": 365,
    }
    for seed, (name, spec) in enumerate(UNIVARIATE_SERIES.items()):
        values = seasonal_values(lengths[name], min(spec.season, 12), seed)
        rows = [[f"1950-{t:04d}", round(value, 2)] for t, value in enumerate(values)]
        write_series_csv(root / spec.file, ["Date", spec.column], rows, crlf=True)
    return root


def write_stock_folder(root: Path, tickers: int = 2, length: int = 420) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for ticker in range(tickers):
        closes = 20 * np.exp(np.cumsum(np.random.default_rng(ticker).normal(0, 0.01, length)))
        rows: list[list[object]] = []
        for t, close in enumerate(closes):
            rows.append(
                [f"2000-{t:04d}", close * 0.99, close * 1.01, close * 0.98, close, close * 0.9, 1e6 + t]
            )
        rows.insert(10, ["2000-holiday", 5.0, 5.0, 5.0, 5.0, 5.0, 0])  # Yahoo's zero-volume placeholder row
        write_series_csv(
            root / f"T{ticker}.csv", ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"], rows
        )
    return root


def test_csv_reading_keeps_named_columns_and_drops_zero_volume_rows(tmp_path: Path) -> None:
    folder = write_stock_folder(tmp_path / "stocks", tickers=1, length=30)
    values, features = read_csv_columns(folder / "T0.csv", forecast_data.STOCK_FEATURES)
    assert features == ["Open", "High", "Low", "Close", "Volume"] and values.shape == (30, 5)
    assert np.all(values[:, 4] > 0)
    quoted = write_series_csv(
        tmp_path / "q.csv", ["Month", "Passengers"], [["1949-01", 112], ["1949-02", 118]], crlf=True
    )
    assert read_csv_columns(quoted, None)[0].ravel().tolist() == [112.0, 118.0]
    with pytest.raises(ValueError, match="no column"):
        read_csv_columns(quoted, ["Close"])


def test_parts_are_chronological_and_windows_stay_inside_their_part() -> None:
    parts = cut_parts(200, 20)
    assert parts == {
        "train": (0, 126),
        "validation": (126, 153),
        "calibration": (153, 180),
        "test": (180, 200),
    }
    series = forecast_data.Series("s", np.arange(200, dtype=np.float32)[:, None], ["v"], "v", 1, parts=parts)
    for part, (start, end) in parts.items():
        origins = window_origins(series, part, context=30, horizon=5)
        assert origins.min() >= max(start, 30) and origins.max() + 5 <= end


def test_no_test_value_reaches_fitting(tmp_path: Path) -> None:
    """With every test-tail value set to NaN, everything fitting reads (scaling floor, training and
    validation windows, calibration residuals) stays finite: a test value used anywhere would spread NaN."""
    series_set = forecast_data.load_univariate(write_classic_folder(tmp_path / "classic"))
    for series in series_set.series:
        start, end = series.parts["test"]
        series.values[start:end] = np.nan
    assert all(math.isfinite(value) for value in forecast_data.fitted_min_scale(series_set, 24))
    contexts, targets = WindowSampler(
        series_set, 24, 12, np.random.default_rng(0), synthetic_share=0.3
    ).batch(256)
    assert torch.isfinite(contexts).all() and torch.isfinite(targets).all()
    for part in ("train", "validation", "calibration"):
        for _, window_contexts, window_targets in part_windows(series_set, part, 24, 12):
            assert np.isfinite(window_contexts).all() and np.isfinite(window_targets).all()


def test_changing_the_test_tail_leaves_the_trained_weights_unchanged(tmp_path: Path) -> None:
    folder = write_classic_folder(tmp_path / "classic")
    main(
        [
            "forecast",
            "--preset",
            "univariate",
            "--data",
            str(folder),
            "--out",
            str(tmp_path / "a"),
            "--context",
            "24",
            *FAST,
        ]
    )
    airline = folder / UNIVARIATE_SERIES["airline-passengers"].file
    lines = airline.read_text().splitlines()
    lines[-3] = lines[-3].rsplit(",", 1)[0] + ",99999"  # a held-out month changes wildly
    airline.write_text("\n".join(lines) + "\n")
    main(
        [
            "forecast",
            "--preset",
            "univariate",
            "--data",
            str(folder),
            "--out",
            str(tmp_path / "b"),
            "--context",
            "24",
            *FAST,
        ]
    )
    first, second = (
        load_file(str(tmp_path / "a" / WEIGHTS_FILE)),
        load_file(str(tmp_path / "b" / WEIGHTS_FILE)),
    )
    assert all(torch.equal(first[key], second[key]) for key in first)
    card_a, card_b = load_artifact(tmp_path / "a").card, load_artifact(tmp_path / "b").card
    assert card_a.io.quantiles == card_b.io.quantiles and card_a.io.scaling == card_b.io.scaling
    assert card_a.io.min_history == 16 and card_a.io.methods == [
        "network",
        "seasonal_naive",
        "ets",
        "theta",
        "combination",
    ]
    assert (
        card_a.metrics["test_relative_mae_airline_passengers"]
        != card_b.metrics["test_relative_mae_airline_passengers"]
    )


def test_baselines_and_mase_on_hand_made_numbers() -> None:
    history = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    assert fm.naive(history, 3).tolist() == [30.0, 30.0, 30.0]
    assert fm.seasonal_naive(history, 5, season=3).tolist() == [10.0, 20.0, 30.0, 10.0, 20.0]
    assert fm.in_sample_scale(history, 3) == pytest.approx(18.0)  # |10-1|, |20-2|, |30-3|
    assert (
        fm.mae(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 1.0
        and fm.mse(np.array([0.0]), np.array([3.0])) == 9.0
    )


def test_conformal_intervals_cover_their_nominal_share() -> None:
    rng = np.random.default_rng(0)
    horizon = 4
    spread = np.array([1.0, 1.5, 2.0, 3.0])  # errors grow with the step, as they do
    calibration = rng.standard_t(5, size=(2000, horizon)) * spread
    offsets = conformal_offsets(calibration, (0.1, 0.5, 0.9))
    assert offsets["0.1"][0] < offsets["0.5"][0] < offsets["0.9"][0]
    forecasts = rng.normal(0, 10, size=(20_000, horizon))
    scales = rng.uniform(0.5, 5, size=20_000)  # residuals are in window-scale units
    actual = forecasts + rng.standard_t(5, size=(20_000, horizon)) * spread * scales[:, None]
    lower, upper = interval(forecasts, scales, offsets["0.1"]), interval(forecasts, scales, offsets["0.9"])
    assert coverage(actual, lower, upper) == pytest.approx(0.8, abs=0.03)
    for step in range(horizon):
        assert coverage(actual[:, step], lower[:, step], upper[:, step]) == pytest.approx(0.8, abs=0.04)


def test_csv_train_save_load_serve_round_trip(tmp_path: Path) -> None:
    rows = [[f"2020-{t:04d}", value, value * 2] for t, value in enumerate(seasonal_values(300, 12, 3))]
    data = write_series_csv(tmp_path / "sales.csv", ["Date", "promo", "sales"], rows)
    out = tmp_path / "artifacts" / "forecast-sales"
    main(["forecast", "--preset", "csv", "--data", str(data), "--out", str(out), "--name", "forecast-sales",
          "--test-length", "12", "--season", "12", "--context", "24", "--horizon", "12", *FAST])  # fmt: skip
    card = load_artifact(out).card
    assert (
        card.io.features == ["promo", "sales"]
        and card.io.target == "sales"
        and card.io.multi_step == "direct"
    )
    assert card.io.context_length == 24 and set(card.io.quantiles) >= {"0.1", "0.9"}
    assert {"test_mase_sales", "test_relative_mae_sales", "test_coverage_80_sales"} <= set(card.metrics)
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG" and (out / "forecast.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    history = [[row[1], row[2]] for row in rows[-30:]]
    with TestClient(create_app(Settings(artifacts_dir=out.parent))) as client:
        wait_until_ready(client)
        response = client.post(
            "/v1/forecast", json={"history": history, "horizon": 12, "quantiles": [0.1, 0.9]}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "forecast-sales" and len(body["forecast"]) == 12
    assert all(
        low <= high for low, high in zip(body["quantiles"]["0.1"], body["quantiles"]["0.9"], strict=True)
    )


def test_stocks_preset_trains_a_direct_ohlcv_model(tmp_path: Path) -> None:
    folder = write_stock_folder(tmp_path / "stocks")
    main(["forecast", "--preset", "stocks", "--data", str(folder), "--out", str(tmp_path / "fs"), *FAST])
    card = load_artifact(tmp_path / "fs").card
    assert (
        card.io.features == forecast_data.STOCK_FEATURES
        and card.io.target == "Close"
        and card.io.max_horizon == 5
    )
    assert {
        "test_mase",
        "test_mase_naive",
        "test_mase_step1",
        "test_mase_step1_naive",
        "test_coverage_80",
    } <= set(card.metrics)


def test_sine_preset_trains_a_recursive_model_on_its_rollouts(tmp_path: Path) -> None:
    out = tmp_path / "sine"
    main(["forecast", "--preset", "sine", "--out", str(out), "--context", "40", "--horizon", "60",
          "--rollout-start", "5", "--rollout-max", "10", *FAST])  # fmt: skip
    artifact = load_artifact(out)
    assert artifact.card.io.multi_step == "recursive" and artifact.card.arch["max_horizon"] == 60
    assert len(artifact.card.io.quantiles["0.9"]) == 60
    assert artifact.card.metrics["test_mse_zeros"] == pytest.approx(0.5, abs=0.05)  # a sine's mean square
    assert artifact.card.training["history"]["train_loss"] and artifact.card.training["epochs_run"] == 2


def test_short_windows_are_padded_back_by_their_season_down_to_min_history() -> None:
    values = np.array([10.0, 20.0, 30.0, 40.0] * 10, dtype=np.float32)[:, None]  # season 4
    series = forecast_data.Series("s", values, ["v"], "v", 4, parts={"train": (0, 40)})
    assert window_origins(series, "train", context=24, horizon=4).min() == 24
    origins = window_origins(series, "train", context=24, horizon=4, min_history=8)
    assert origins.min() == 8 and origins.max() == 36
    contexts, targets = forecast_data.windows_at(series, np.array([20, 8]), 24, 4)
    assert contexts.shape == (2, 24, 1) and targets[0].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert (
        contexts[0, :, 0].tolist() == [10.0, 20.0, 30.0, 40.0] * 6
    )  # 20 real values, padded back by their season
    assert (
        contexts[1, :16, 0].tolist() == [10.0] * 16
    )  # 8 values show no season yet: the first one is repeated


def test_seq2seq_trains_writes_and_serves_after_its_golden_check(tmp_path: Path) -> None:
    rows = [[f"2020-{t:04d}", value] for t, value in enumerate(seasonal_values(300, 12, 3))]
    data = write_series_csv(tmp_path / "sales.csv", ["Date", "sales"], rows)
    out = tmp_path / "artifacts" / "forecast-s2s"
    main(["forecast", "--preset", "csv", "--data", str(data), "--out", str(out), "--name", "forecast-s2s",
          "--test-length", "12", "--season", "12", "--context", "24", "--horizon", "12",
          "--arch", "seq2seq", "--attention", *FAST])  # fmt: skip
    card = load_artifact(out).card
    assert card.arch["network"] == "seq2seq" and card.arch["attention"] is True
    assert card.training["arguments"]["arch"] == "seq2seq"
    with TestClient(create_app(Settings(artifacts_dir=out.parent, reload_interval_s=0))) as client:
        wait_until_ready(client)
        assert client.get("/v1/models/forecast-s2s").json()["reload"]["status"] == "swapped"  # golden passed
        history = [row[1] for row in rows[-30:]]
        answer = client.post("/v1/forecast", json={"history": history, "horizon": 12, "method": "network"})
    assert answer.status_code == 200 and len(answer.json()["forecast"]) == 12


def test_seq2seq_needs_a_direct_multi_step() -> None:
    with pytest.raises(SystemExit, match="needs --multi-step direct"):
        main(["forecast", "--preset", "sine", "--out", "unused", "--arch", "seq2seq"])
