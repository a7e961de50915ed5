"""Runtime settings that reach native libraries."""

import os

import pytest

from service.app import create_app
from service.settings import Settings


def test_the_onednn_primitive_cache_is_capped_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN's default cache (1024 compiled shapes) let RSS grow by ~300 MB under varied traffic."""
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "1")  # restored after the test
    create_app(Settings(onednn_cache_capacity=48))
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "48"
    assert Settings().onednn_cache_capacity == 64
