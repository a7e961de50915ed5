"""Prometheus metrics, in a registry of the app's own so that several apps (tests) never collide."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rnnserve_requests_total",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "rnnserve_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # The stages of one inference, per model: preprocess -> queue wait -> forward -> postprocess (KServe's
        # pre/predict/post).
        self.preprocess_latency = self._per_model(
            "preprocess", "one request's preprocessing (validation, tokenization)"
        )
        self.postprocess_latency = self._per_model(
            "postprocess", "one request's postprocessing (shaping the response)"
        )
        self.forward_latency = self._per_model("forward", "one batched forward pass")
        self.queue_wait = self._per_model("queue_wait", "time from queueing to the forward pass")
        self.item_latency = self._per_model("item", "time from queueing to the answer, per batched item")
        self.batch_size = Histogram(
            "rnnserve_batch_size",
            "items per forward pass",
            ["model", "device"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.positions = Counter(
            "rnnserve_batch_positions_total",
            "token positions in forward passes; padding / (real + padding) is the share spent on padding",
            ["model", "kind"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "rnnserve_queue_depth", "items waiting for a forward pass", ["model"], registry=self.registry
        )

        self.reloads = Counter(
            "rnnserve_reloads_total",
            "versions put live or refused, by model and outcome: loaded (the first), swapped, failed (the "
            "serving version kept), unloaded, removed",
            ["model", "outcome"],
            registry=self.registry,
        )

    def _per_model(self, stage: str, description: str) -> Histogram:
        """`rnnserve_<stage>_seconds`, labelled by model and device."""
        return Histogram(
            f"rnnserve_{stage}_seconds",
            description,
            ["model", "device"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
