"""The batcher's cost estimate: fixed plus per-unit time per kind, so that small batches do not make large
ones look expensive, and three large requests after a small one are all served on an idle server."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from service.runtime.cost import CostModel


def test_a_fit_over_two_sizes_separates_fixed_from_per_unit_time() -> None:
    costs = CostModel(max_batch_size=32)
    for _ in range(3):
        costs.learn([("review", 10.0)], 0.010 + 10 * 0.00001)
        costs.learn([("review", 5000.0)], 0.010 + 5000 * 0.00001)
    fixed, per_unit = costs.lines["review"].fit()
    assert fixed == pytest.approx(0.010, rel=0.01) and per_unit == pytest.approx(0.00001, rel=0.01)
    # 16 reviews of 2,800 characters queued: one batch's overhead and their characters, not 100 x too much
    assert costs.wait({"review": 16 * 2800.0}, {"review": 16}) == pytest.approx(0.010 + 0.448, rel=0.01)


def test_one_size_seen_is_proportional_to_units() -> None:
    costs = CostModel(max_batch_size=8)
    costs.learn([("item", 1.0)], 0.05)
    assert costs.wait({"item": 10.0}, {"item": 10}) == pytest.approx(0.5)
    assert costs.wait({"other": 10.0}, {"other": 10}) == 0  # never timed: free, never shed on a guess


def test_three_long_requests_after_a_short_one_are_all_served(client: TestClient) -> None:
    """Right after start: one short review, then three concurrent requests of 16 long reviews each. The cost
    learnt from the short one must not refuse the others on an idle server (each may take 2 s here)."""
    assert client.post("/v1/sentiment", json={"texts": ["great"]}).status_code == 200
    long_review = " ".join(["a great film with a wonderful story"] * 80)  # over 512 tokens, cut to 512
    with ThreadPoolExecutor(max_workers=3) as pool:
        responses = list(
            pool.map(
                lambda _: client.post(
                    "/v1/sentiment", json={"texts": [long_review] * 16}, headers={"X-Request-Timeout": "2"}
                ),
                range(3),
            )
        )
    assert [response.status_code for response in responses] == [200, 200, 200]
