"""Configuration from environment variables prefixed ``HYPERQUEST_`` (or a ``.env`` file)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of HyperQuest; docs/operations.md says what each one does."""

    model_config = SettingsConfigDict(env_prefix="HYPERQUEST_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/hyperquest.sqlite3",
        description="SQLAlchemy URL; postgresql+psycopg://… for the scaled-out mode.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL for Celery; unset means embedded mode (in-process runner).",
    )
    dataset_size: Literal["full", "small", "tiny"] = Field(
        default="small",
        description="full: ~8500/1500 examples (GPU workers); small: CPU default; tiny: tests.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Where training runs; auto picks cuda when a GPU is visible.",
    )

    training_threads: int | None = Field(
        default=None, ge=1, le=256,
        description="CPU threads for training (unset: PyTorch's default, all cores).",
    )
    training_processes: int | None = Field(
        default=None, ge=1, le=64,
        description="Embedded mode: executors (training processes, or threads) side by side; unset: one per core.",
    )
    embedded_runner: Literal["process", "thread"] = Field(
        default="process",
        description="Where the embedded mode trains: a child process (pages never wait for training's "
                    "interpreter lock) or a thread of the server (starts faster; used by most tests).",
    )
    warm_up: bool = Field(
        default=True,
        description="Training processes (embedded children, Celery pool processes) train one tiny epoch when they "
                    "start, so that no player's first epoch pays their one-off costs (kernel set-up, about 1.5 s).",
    )
    training_niceness: int = Field(
        default=10, ge=0, le=19,
        description="OS niceness of the threads that train (embedded runner, Celery worker): on a machine that "
                    "both serves pages and trains, pages come first. 0 keeps the normal priority.",
    )
    min_room_to_learn: float = Field(
        default=0.05, ge=-1, le=1,
        description="Pools pass over a dataset whose automatic player beats the default schedule by less than this "
                    "(checked when baselines use the game's 30 epochs); its family's next seed takes its place.",
    )
    pool_size: int = Field(default=8, ge=1, le=10_000, description="Datasets in the shared pool new runs draw from.")
    baseline_epochs: int = Field(default=30, ge=1, le=30, description="Epoch budget of the default-schedule baseline.")
    redis_prefix: str = Field(
        default="hyperquest",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of every Redis key, queue and channel, so several deployments (or tests) can share one Redis.",
    )
    stale_after_seconds: float = Field(
        default=60.0, gt=0, le=3600,
        description="A training epoch whose worker has not reported for this long is presumed dead and sent again.",
    )
    resend_after_seconds: float = Field(
        default=300.0, gt=0, le=86_400,
        description="A queued epoch no worker has started after this long is sent again (e.g. Redis lost its queue).",
    )
    reconcile_every_seconds: float = Field(
        default=5.0, gt=0, le=600, description="How often the web app looks for stuck or unsent epochs (scaled-out mode)."
    )
    grade_retry_seconds: float = Field(
        default=30.0, gt=0, le=3600,
        description="Wait after a grade post to an LMS fails before the first retry; it doubles per failure, up to an hour.",
    )
    worker_alive_seconds: float = Field(
        default=30.0, gt=0, le=3600,
        description="A worker counts as alive this long after its last heartbeat; while it is, a run's epochs go "
                    "to the worker that trained its last one (its data is already generated and on its device).",
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20,
        description="Starts of one epoch before its run fails: an epoch that keeps killing its worker must not loop.",
    )
    task_soft_time_limit: int = Field(default=900, ge=1, description="Seconds before an epoch task is asked to stop.")
    task_time_limit: int = Field(default=1200, ge=1, description="Seconds before an epoch task's process is killed.")
    secret_key: str = Field(
        default="change-me-in-production",
        min_length=8,
        description="Signs session cookies; set a long random value in production.",
    )

    rate_limits_enabled: bool = Field(default=True, description="Turn the login and action rate limits on or off.")
    rate_limit_login_per_ip: str = Field(default="300/minute", description="Login attempts per IP address (a class may share one NAT address).")
    rate_limit_login_per_account: str = Field(default="10/minute", description="Login attempts per student ID or staff username.")
    rate_limit_actions_per_ip: str = Field(default="1200/minute", description="Game actions (POSTs) per IP address.")
    rate_limit_actions_per_student: str = Field(default="60/minute", description="Game actions (POSTs) per student.")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=10 * 1024 * 1024, description="Largest request body accepted.")
    secure_cookies: bool = Field(
        default=False,
        description="Mark the session cookie Secure even when the request looks like plain HTTP (set behind a TLS proxy).",
    )
    pseudonym_secret: str | None = Field(
        default=None,
        min_length=16,
        description="Keys the HMAC that turns student IDs into export pseudonyms; defaults to one derived from the secret key.",
    )

    @field_validator("rate_limit_login_per_ip", "rate_limit_login_per_account", "rate_limit_actions_per_ip",
                     "rate_limit_actions_per_student")
    @classmethod
    def _rate(cls, value: str) -> str:
        """A rate such as ``10/minute`` or ``100 per hour``."""
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as 10/minute") from None
        return value

    @property
    def pseudonym_key(self) -> bytes:
        """The key research exports pseudonymise with (stable while the setting is unchanged)."""
        if self.pseudonym_secret:
            return self.pseudonym_secret.encode()
        # Derived, not the secret key itself: a leaked export key must not let anyone sign sessions.
        return hmac.new(self.secret_key.encode(), b"hyperquest research pseudonyms", hashlib.sha256).digest()

    @property
    def embedded(self) -> bool:
        """True when training runs in-process (no Redis configured)."""
        return not self.redis_url


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning (for tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
