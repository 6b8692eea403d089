"""The one configuration of guardq, read from ``GUARDQ_*`` environment variables.

Every variable is declared here once, with its default and why; nothing else in the
code base reads the environment. Bad values fail at start with the variable's name.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from guardq.outbound import Allowed, parse_allow_entry
from guardq.policy import Policy

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL = REPO_ROOT / "models" / "demo"


# Each worker process holds its own copy of the model: past this many per device the
# copies cost more memory than the overlap gains.
MAX_WORKERS_PER_DEVICE = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUARDQ_", extra="ignore", frozen=True)

    # Hugging Face id (e.g. Qwen/Qwen3Guard-Gen-4B) or local directory. The default is
    # the tiny demo model shipped in the repo: it is NOT a safety model.
    model: str = str(DEMO_MODEL)
    # auto | cpu | cuda | cuda:N. auto takes cuda:0 when present, else the CPU.
    device: str = "auto"
    # Worker processes per device, each with its own copy of the model (`guardq worker
    # --per-device`): while one runs the engine, another does its store work and takes
    # the next requests.
    workers_per_device: int = Field(default=1, ge=1, le=MAX_WORKERS_PER_DEVICE)
    # auto = bf16 on GPU, fp32 on CPU.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # Postgres in production (postgresql+psycopg://...); unset = embedded SQLite store.
    database_url: str | None = None
    # Redis broker (redis://host:6379/0); unset = run the pipeline in one process.
    broker_url: str | None = None
    # Celery result backend; unset = the broker's Redis.
    result_backend_url: str | None = None
    # Redis redelivers a message that no worker acknowledged after this many seconds
    # (Celery's default is one hour). With late acks, a task killed with its worker is
    # redone only after it, so it bounds recovery time; it must exceed the longest task.
    visibility_timeout: int = Field(default=900, ge=10, le=86_400)
    # Items per bulk task: large enough for full engine batches, small enough to redo.
    bulk_task_items: int = Field(default=64, ge=1, le=10_000)
    # Tokens (padding included) one forward pass may hold: the batch packing budget.
    max_batch_tokens: int = Field(default=8192, ge=256, le=1_048_576)
    # Content longer than this many tokens is cut into overlapping windows.
    chunk_tokens: int = Field(default=2048, ge=64, le=32_000)
    chunk_overlap: int = Field(default=128, ge=0)
    # The answer is at most three short lines; a bound keeps a runaway decode cheap.
    max_new_tokens: int = Field(default=32, ge=8, le=512)
    # HTTP API limits: a request beyond them gets a 4xx naming the field and the limit.
    max_items_per_request: int = Field(default=1000, ge=1, le=100_000)
    max_text_chars: int = Field(default=100_000, ge=1, le=10_000_000)
    # Bytes of one request body, refused (413) before it is parsed. It bounds a request's
    # cost whatever its shape; a request at both limits above can be larger than this.
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, le=1024**3)
    # Characters of one JSONL or CSV line, CSV cell or Parquet cell that `guardq label`
    # reads; a longer one is refused naming its line (or row), never read into memory.
    label_max_line_chars: int = Field(default=10_000_000, ge=1024, le=1_000_000_000)
    # Seconds an API process remembers a key it verified (0: ask the store each time):
    # a revoked key, or new limits, take effect on every process within this.
    key_cache_s: float = Field(default=2.0, ge=0, le=300)
    # How long POST /v1/moderations waits for its verdicts before answering 504.
    moderation_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # How long an escalated item's text is kept after its review decision.
    review_retention: timedelta = timedelta(days=7)
    # Seconds a reviewer's claim holds an item; an abandoned one then returns to the
    # queue. Claiming again renews it.
    review_lease_s: int = Field(default=300, ge=10, le=86_400)
    # Seconds between runs of the purge of reviewed text past its retention (Celery
    # beat: `guardq beat`, or `guardq worker --beat`). The retention is the promise;
    # this only bounds how late after it the text goes.
    purge_interval_s: int = Field(default=3600, ge=60, le=86_400)
    # What Dify shows its user in place of content guardq flags (the preset response of
    # its moderation extension, POST /v1/dify/moderation); a request may override it.
    dify_preset_response: str = Field(
        default="Your content violates our usage policy.", min_length=1, max_length=2000
    )
    # The Batch API (/v1/files, /v1/batches): the largest input file, in bytes and in
    # requests (non-blank lines), as OpenAI's own limits; an upload past them is refused.
    batch_max_file_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, le=2**40)
    batch_max_lines: int = Field(default=50_000, ge=1, le=10_000_000)
    # Items per bulk job a batch is cut into: each part is read, validated and submitted
    # on its own, so a batch's texts never sit whole in a worker's memory.
    batch_part_items: int = Field(default=2048, ge=1, le=100_000)
    # JSON, e.g. {"controversial": "strict", "categories": {"PII": "review"}}.
    policy: Annotated[Policy, NoDecode] = Field(default_factory=Policy)
    # The HMAC key for items' author ids (guardq.authors): the store keeps only
    # HMAC-SHA256(secret, author). Unset: jobs may not carry authors. While rotating,
    # the old secret goes in _PREVIOUS, so that strikes under it still count.
    author_secret: SecretStr | None = None
    author_secret_previous: SecretStr | None = None

    @field_validator("author_secret", "author_secret_previous")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return value

    def author_hashes(self, author: str) -> tuple[str, ...]:
        """The author's hashes: under the current secret, then the previous one if set.
        ValueError when no secret is set."""
        from guardq.authors import author_hash

        if self.author_secret is None:
            raise ValueError(
                "this deployment keeps no author ids: set GUARDQ_AUTHOR_SECRET to accept them"
            )
        secrets = [self.author_secret, self.author_secret_previous]
        return tuple(author_hash(s.get_secret_value(), author) for s in secrets if s is not None)

    # Comma-separated hosts (hooks.internal), domains (.internal) and networks
    # (10.1.0.0/16) that callbacks and alerts may reach although they are not public
    # addresses; by default only global addresses are (guardq.outbound: SSRF guard).
    callback_allow: Annotated[tuple[str, ...], NoDecode] = ()
    # Where an event for every blocked item goes (guardq.alerts), unless the job names
    # its own alert_url; signed, so it needs the signing secret.
    alert_url: str | None = None
    # Key of the HMAC-SHA256 signature on alerts and job callbacks (guardq.signing);
    # unset: callbacks go unsigned and alerts cannot be configured.
    signing_secret: SecretStr | None = Field(default=None, min_length=16)

    @property
    def outbound_allowed(self) -> Allowed:
        """``callback_allow`` parsed: what callbacks and alerts may reach."""
        return Allowed.from_entries(self.callback_allow)

    @field_validator("callback_allow", mode="before")
    @classmethod
    def _parse_allow(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple):
            for entry in value:
                parse_allow_entry(str(entry))
        return value

    # Basic auth of `guardq flower`; it refuses to start without a password. Flower
    # splits its list of users on commas, so neither may hold one.
    flower_user: str = Field(default="admin", min_length=1, pattern=r"^[^:,]+$")
    flower_password: SecretStr | None = None

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        value = value.strip().lower()
        if value in ("auto", "cpu", "cuda"):
            return value
        if value.startswith("cuda:") and value[5:].isdigit():
            return value
        raise ValueError(f"must be auto, cpu, cuda or cuda:N, got {value!r}")

    @field_validator("flower_password")
    @classmethod
    def _check_flower_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ("," in value.get_secret_value() or not value.get_secret_value()):
            raise ValueError("must be non-empty and hold no comma (Flower splits on commas)")
        return value

    @field_validator("policy", mode="before")
    @classmethod
    def _parse_policy(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"GUARDQ_POLICY is not valid JSON: {exc}") from None
        return value

    @field_validator("alert_url", "signing_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose passes an unset variable through as "".
        return None if value == "" else value

    @field_validator("alert_url")
    @classmethod
    def _check_alert_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _check_alerts_are_signed(self) -> Settings:
        if self.alert_url is not None and self.signing_secret is None:
            raise ValueError(
                "GUARDQ_ALERT_URL needs GUARDQ_SIGNING_SECRET (at least 16 characters): "
                "alerts are signed"
            )
        return self

    @model_validator(mode="after")
    def _check_chunking(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens // 2:
            raise ValueError(
                f"GUARDQ_CHUNK_OVERLAP ({self.chunk_overlap}) must be less than half of "
                f"GUARDQ_CHUNK_TOKENS ({self.chunk_tokens})"
            )
        return self


class CliSettings(BaseSettings):
    """The command line's own switch, read apart from ``Settings`` so that it works
    when another ``GUARDQ_*`` value is the error being reported."""

    model_config = SettingsConfigDict(env_prefix="GUARDQ_", extra="ignore", frozen=True)

    # Show the traceback behind a command-line error (guardq.cli; also --debug).
    debug: bool = False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
