"""Training under torchrun: 2 gloo processes per trainer on tiny data.

Each 2-process run writes an artifact the service serves; with dropout 0, its weights after 20
steps equal a 1-process run's at the same global batch; a stopped distributed run resumes.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file

from models.artifact import WEIGHTS_FILE, load_artifact
from service.app import create_app
from service.settings import Settings
from tests.helpers import write_imdb_jsonl, write_ptb_corpus
from tests.service.conftest import wait_until_ready

# Each run takes 20 steps: 320 training reviews in batches of 16 (355 less a 10% validation share),
# 804 tokens as 4 streams of 201 in 20 windows of 10, and 20 steps of the forecaster.
RUNS = {
    "sentiment": [
        "sentiment",
        "--epochs",
        "1",
        "--embedding-dim",
        "8",
        "--hidden-size",
        "8",
        "--max-length",
        "32",
        "--batch-size",
        "16",
        "--dropout",
        "0",
    ],
    "lm-ptb": [
        "lm",
        "--epochs",
        "1",
        "--hidden-size",
        "16",
        "--batch-size",
        "4",
        "--bptt",
        "10",
        "--lr",
        "5",
        "--limit-tokens",
        "804",
        "--dropout",
        "0",
    ],
    "forecast-sine": [
        "forecast",
        "--preset",
        "sine",
        "--epochs",
        "1",
        "--context",
        "40",
        "--horizon",
        "20",
        "--multi-step",
        "direct",
        "--steps-per-epoch",
        "20",
        "--hidden-size",
        "8",
        "--batch-size",
        "8",
        "--dropout",
        "0",
    ],
}


def train(arguments: list[str], processes: int) -> str:
    """`torchrun --standalone --nproc-per-node N -m training ...` (or plain `python -m training` for 1);
    returns the output."""
    if processes == 1:
        command = [sys.executable, "-m", "training", "--threads", "1", *arguments]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            "training",
            *arguments,
        ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        done.stdout[-2000:]
        + "\n".join(line for line in done.stderr.splitlines() if "it/s" not in line)[-6000:]
    )
    return done.stdout


def with_data(name: str, data: Path) -> list[str]:
    if name == "sentiment":
        return [*RUNS[name], "--data", str(data / "imdb")]
    if name == "lm-ptb":
        return [*RUNS[name], "--data", str(data / "ptb")]
    return RUNS[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Every trainer run once with 1 process and once with 2; artifacts under <root>/<processes>/<model>."""
    root = tmp_path_factory.mktemp("distributed")
    write_imdb_jsonl(root / "data" / "imdb", train_count=355, test_count=40)
    write_ptb_corpus(root / "data" / "ptb")
    for processes in (1, 2):
        for name in RUNS:
            train([*with_data(name, root / "data"), "--out", str(root / str(processes) / name)], processes)
    return {processes: root / str(processes) for processes in (1, 2)}


def test_two_process_runs_record_their_world_and_are_served(runs: dict[int, Path]) -> None:
    for name in RUNS:
        training = load_artifact(runs[2] / name).card.training
        assert (training["world_size"], training["backend"], training["devices"]) == (
            2,
            "gloo",
            ["cpu", "cpu"],
        )
        assert load_artifact(runs[1] / name).card.training["world_size"] == 1
    with TestClient(create_app(Settings(artifacts_dir=runs[2]))) as client:
        wait_until_ready(client)
        assert client.post("/v1/sentiment", json={"texts": ["a great film"]}).status_code == 200
        assert client.post("/v1/next-word", json={"text": "the company"}).status_code == 200
        forecast = client.post(
            "/v1/forecast", json={"model": "forecast-sine", "history": [0.1] * 40, "horizon": 5}
        )
        assert forecast.status_code == 200 and len(forecast.json()["forecast"]) == 5


@pytest.mark.parametrize("name", list(RUNS))
def test_two_processes_take_the_same_steps_as_one_at_the_same_global_batch(
    runs: dict[int, Path], name: str
) -> None:
    alone, together = (
        load_file(str(runs[1] / name / WEIGHTS_FILE)),
        load_file(str(runs[2] / name / WEIGHTS_FILE)),
    )
    assert alone.keys() == together.keys()
    for key, weights in alone.items():
        scale = float(weights.abs().max()) or 1.0
        assert float((together[key] - weights).abs().max()) / scale < 1e-5, key


def test_a_distributed_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    arguments = [
        "forecast",
        "--preset",
        "sine",
        "--context",
        "40",
        "--horizon",
        "20",
        "--multi-step",
        "direct",
        "--steps-per-epoch",
        "5",
        "--hidden-size",
        "8",
        "--batch-size",
        "8",
        "--patience",
        "5",
        "--out",
        str(tmp_path / "out"),
        "--checkpoint-dir",
        str(tmp_path / "checkpoint"),
    ]
    train([*arguments, "--epochs", "1"], 2)
    output = train([*arguments, "--epochs", "2"], 2)
    assert "resumed after epoch 1" in output and "epoch 2:" in output and "epoch 1:" not in output
    training = load_artifact(tmp_path / "out").card.training
    assert training["epochs_run"] == 2 and training["world_size"] == 2


def test_a_seed_makes_a_distributed_run_reproducible(runs: dict[int, Path], tmp_path: Path) -> None:
    train([*RUNS["forecast-sine"], "--out", str(tmp_path / "again")], 2)
    first, again = (
        load_file(str(runs[2] / "forecast-sine" / WEIGHTS_FILE)),
        load_file(str(tmp_path / "again" / WEIGHTS_FILE)),
    )
    assert all(torch.equal(first[key], again[key]) for key in first)
