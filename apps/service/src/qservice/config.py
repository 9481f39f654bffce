"""Every setting from the environment (``QSERVICE_*``) or the command line, with a default."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The service's configuration; ``Settings()`` reads ``QSERVICE_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix="QSERVICE_", extra="forbid")

    database_url: str = "sqlite:///qservice.db"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(2, ge=0, le=64, description="worker threads of the local worker process")
    # request limits
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    rate_per_second: float = Field(50.0, gt=0, description="per API key, sustained")
    rate_burst: int = Field(100, ge=1, description="per API key, burst")
    max_in_flight: int = Field(64, ge=1, description="requests handled at once before 503")
    max_queued_jobs: int = Field(1000, ge=1, description="queued jobs before POST /v1/jobs is 503")
    # job leases: a running job's worker renews its lease every heartbeat; a lease that
    # expires means the worker died, and the job is re-queued (or failed after max_attempts)
    lease_seconds: float = Field(30.0, gt=0)
    heartbeat_seconds: float = Field(5.0, gt=0)
    reap_seconds: float = Field(2.0, gt=0)
    max_attempts: int = Field(2, ge=1)
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    serving_threads: int = Field(
        1, ge=1, le=64, description="onnxruntime threads of the model-serving process"
    )
    cors_origins: list[str] = Field(default_factory=list)
    data_dir: Path = Path("qservice-data")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg2://")):
            raise ValueError(
                "database_url must be sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
