"""Every service setting, read once from RNNSERVE_* environment variables."""

import json
import re
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
LOG_LEVELS = ("debug", "info", "warning", "error")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RNNSERVE_", extra="ignore")

    artifacts_dir: Path = Field(Path("artifacts"), description="folder with one artifact folder per model")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda or cuda:N")
    default_models: dict[str, str] = Field(
        {"sentiment": "sentiment", "language-model": "lm-ptb", "forecast": "forecast-univariate"},
        description="task -> model served when a request names none (JSON); a task whose default is absent "
        "falls back to its first model by name",
    )
    max_batch_size: int = Field(32, ge=1, le=1024, description="most items in one forward pass")
    max_batch_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="longest wait for a batch to fill once others are queued"
    )
    queue_size: int = Field(
        1024, ge=1, le=100_000, description="items waiting per model before requests get 429"
    )
    request_timeout_s: float = Field(
        30.0, gt=0, le=600, description="default deadline; X-Request-Timeout may shorten it"
    )
    drain_timeout_s: float = Field(
        20.0, ge=0, le=600, description="on SIGTERM, how long accepted requests may take to finish"
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger request bodies get 413")
    api_key: SecretStr | None = Field(
        None, description="when set, /v1 and /v2/models routes need 'Authorization: Bearer <key>'"
    )
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS; empty turns CORS off")
    log_level: str = Field("info", description="debug, info, warning or error")
    threads: int = Field(
        0, ge=0, le=256, description="torch CPU threads (0: half the CPUs the process may use, at least 1)"
    )
    body_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="a request body must arrive within this many seconds of the request's start (408)",
    )
    head_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="a request's line and headers must arrive within this many seconds of its first byte "
        "(a new connection: of its opening), else the connection is closed (python -m service)",
    )
    session_ttl_s: float = Field(
        600.0,
        gt=0,
        le=86_400,
        description="a session, or a state token, expires this long after its last step",
    )
    max_sessions: int = Field(
        1000, ge=1, le=1_000_000, description="live sessions per server; a new one past it gets 429"
    )
    session_key: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key that signs portable session state tokens; "
        "unset or empty: tokens are off",
    )
    reload_interval_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="how often the artifacts folder is scanned for models added, replaced or removed "
        "(each new version is loaded, checked and swapped in without a restart); 0 turns the scan off",
    )
    keep_dir: Path | None = Field(
        None,
        description="where the server keeps a copy of each model's current and previous version, for "
        "rollback (POST /v2/repository/models/{name}/load with a version); unset: a private temporary "
        "folder",
    )
    admin_key: SecretStr | None = Field(
        None,
        description="when set, the model repository routes (/v2/repository/...: index, load, unload) "
        "need 'Authorization: Bearer <key>'; unset or empty: they answer 403",
    )
    load_before_serving: bool = Field(
        False,
        description="load every model before the app starts (its lifespan waits), for platforms that "
        "route to a replica as soon as it has started (Ray Serve); by default models load in the "
        "background behind /readyz",
    )
    onednn_cache_capacity: int = Field(
        64,
        ge=1,
        le=100_000,
        description="oneDNN primitive cache entries on the CPU. Each new input shape compiles one; "
        "with oneDNN's default of 1024, resident memory grew by about 300 MB under varied traffic",
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {value!r}")
        return value

    @field_validator("api_key", "session_key", "admin_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, value: object) -> object:
        """An empty key means none: compose passes RNNSERVE_API_KEY="" (or the session or admin key) when
        the host has none."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {LOG_LEVELS}, got {value!r}")
        return value.lower()

    @cached_property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


def settings_help() -> str:
    """Every setting by its environment variable, with its default and meaning, one line each."""
    lines = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = (
            "unset"
            if default is None
            else json.dumps(default)
            if isinstance(default, dict | str)
            else default
        )
        lines.append(f"  RNNSERVE_{name.upper()} (default {shown}): {field.description}")
    return "\n".join(lines)


def load_settings() -> Settings:
    """The settings from the environment; a bad value stops the start with one line per fault, no
    traceback."""
    try:
        return Settings()
    except ValidationError as error:
        faults = "; ".join(
            f"RNNSERVE_{'_'.join(map(str, fault['loc'])).upper()}: "
            f"{fault['msg'].removeprefix('Value error, ')}"
            for fault in error.errors()
        )
        raise SystemExit(f"rnnserve: bad setting: {faults}") from None
