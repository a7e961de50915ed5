"""Training writes golden.json from the test split, and a server lets the version serve only when it answers
those requests as the file says."""

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.golden import GOLDEN_FILE, GoldenFile
from service.app import create_app
from service.settings import Settings
from tests.helpers import write_imdb_jsonl, write_ptb_corpus
from tests.service.conftest import wait_until_ready
from training.cli import main

SENTIMENT = ["--embedding-dim", "8", "--hidden-size", "8", "--batch-size", "16", "--max-length", "32"]
LM = ["--hidden-size", "16", "--epochs", "1", "--batch-size", "4", "--bptt", "8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentiment model and a language model trained by the CLI on tiny data, in one artifacts folder."""
    root = tmp_path_factory.mktemp("trained")
    reviews = write_imdb_jsonl(root / "imdb", 120, 40)
    out = root / "artifacts"
    main(["--threads", "1", "sentiment", "--data", str(reviews), "--out", str(out / "sentiment"),
          "--epochs", "1", *SENTIMENT])  # fmt: skip
    corpus = write_ptb_corpus(root / "ptb")
    main(["--threads", "1", "lm", "--data", str(corpus), "--out", str(out / "lm-ptb"), *LM])
    return out


def golden_of(folder: Path) -> GoldenFile:
    return GoldenFile.model_validate_json((folder / GOLDEN_FILE).read_text())


def test_training_writes_golden_cases_of_each_operation(trained: Path) -> None:
    sentiment, language_model = golden_of(trained / "sentiment"), golden_of(trained / "lm-ptb")
    assert [case.operation for case in sentiment.cases] == ["sentiment"] * 4
    probabilities = sentiment.cases[0].expected["results"][0]["probabilities"]
    assert set(probabilities) == {"negative", "positive"} and sum(probabilities.values()) == pytest.approx(1)
    assert {case.operation for case in language_model.cases} == {"perplexity", "next-word"}
    perplexity = next(case for case in language_model.cases if case.operation == "perplexity")
    assert perplexity.expected["perplexity"] > 1 and perplexity.expected["token_count"] >= 7


def test_a_server_serves_the_trained_versions_after_their_golden_check(trained: Path) -> None:
    with TestClient(create_app(Settings(artifacts_dir=trained, reload_interval_s=0))) as client:
        wait_until_ready(client)
        for name in ("sentiment", "lm-ptb"):
            model = client.get(f"/v1/models/{name}").json()
            assert model["status"] == "ready" and model["reload"]["status"] == "swapped"
        case = golden_of(trained / "lm-ptb").cases[0]
        answer = client.post("/v1/perplexity", json=case.request).json()
        assert answer["perplexity"] == pytest.approx(case.expected["perplexity"], rel=1e-3)


def test_a_version_that_misses_its_golden_answers_does_not_serve(trained: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sentiment"
    folder.mkdir()
    for path in (trained / "sentiment").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    golden = json.loads((folder / GOLDEN_FILE).read_text())
    golden["cases"][1]["expected"]["results"][0]["probabilities"]["positive"] = 2.0
    (folder / GOLDEN_FILE).write_text(json.dumps(golden))
    with TestClient(create_app(Settings(artifacts_dir=tmp_path, reload_interval_s=0))) as client:
        model = client.get("/v1/models/sentiment").json()
        while model["status"] == "loading":
            model = client.get("/v1/models/sentiment").json()
        assert model["status"] == "failed" and model["reload"]["status"] == "failed"
        assert "golden.json case 1 (sentiment) failed the check" in model["reason"]
        assert "results[0].probabilities.positive: expected 2.0" in model["reason"]


def test_the_golden_command_writes_the_same_cases_for_an_artifact_that_has_none(
    trained: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "sentiment"
    shutil.copytree(trained / "sentiment", folder)
    (folder / GOLDEN_FILE).unlink()
    main(["golden", "--artifact", str(folder), "--data", str(trained.parent / "imdb")])
    assert golden_of(folder) == golden_of(trained / "sentiment")  # the same test split, the same answers
    assert not list(folder.glob(".*"))  # written whole, then renamed in


def test_the_golden_command_needs_data_it_can_read(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="ptb files missing under .*nowhere"):
        main(["golden", "--artifact", str(trained / "lm-ptb"), "--data", str(tmp_path / "nowhere")])
