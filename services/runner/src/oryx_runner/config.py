"""Settings of the runner, read from ``ORYX_RUNNER_*`` variables (see docs/runner.md)."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORYX_RUNNER_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset: an embedded PostgreSQL under data_dir"
    )
    database_pool_size: int = Field(default=20, ge=2, le=500)
    broker_url: str | None = Field(default=None, description="RabbitMQ URL; unset: in-process")
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8084, ge=1, le=65535)
    public_url: str | None = Field(
        default=None,
        description="How actions reach this service (presigned local-file URLs); "
        "default http://<host>:<port>",
    )
    authorization_url: str = Field(
        default="http://127.0.0.1:8081", description="Base URL of the authorization service"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs the local filestore's URLs; unset: a key file in data_dir",
    )
    # filestore: S3 when s3_endpoint is set, else a local folder
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_bucket: str = "oryx"
    s3_secure: bool = False
    s3_region: str | None = None
    filestore_dir: Path | None = Field(
        default=None, description="Local-folder filestore; default: data_dir/filestore"
    )
    max_upload_bytes: int = Field(default=100 * 1024**2, gt=0, description="A manual run's file")
    # the site
    site: str = Field(default="local", pattern="^local$", description="Only `local` for now")
    artifacts_dir: Path | None = Field(
        default=None,
        description="Where the local builder puts artifacts; default data_dir/artifacts",
    )
    site_state_dir: Path | None = Field(
        default=None, description="Leases and logs of local replicas; default data_dir/local-site"
    )
    local_max_replicas: int = Field(default=4, ge=1, le=256)
    local_max_versions: int = Field(default=16, ge=1, le=1024)
    local_idle_seconds: float = Field(default=300.0, gt=0)
    local_scale_down_seconds: float = Field(default=60.0, gt=0)
    local_startup_timeout_seconds: float = Field(default=120.0, gt=0)
    local_orphan_grace_seconds: float = Field(default=60.0, gt=0)
    local_workers: int = Field(default=1, ge=1, le=64)
    local_memory_limits: bool = True
    local_memory_headroom_bytes: int = Field(default=1024**3, ge=0)
    local_timeout_margin_seconds: float = Field(default=30.0, gt=0)
    # the engine
    max_concurrent_steps: int = Field(default=32, ge=1, le=10_000)
    max_attempts: int = Field(default=10, ge=1, le=1000)
    retry_base_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    recovery_seconds: float = Field(default=2.0, gt=0)
    recovery_grace_seconds: float = Field(default=3.0, ge=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # triggers
    trigger_check_seconds: float = Field(
        default=5.0, gt=0, description="Safety-net pass of the trigger supervisor"
    )
    source_restart_base_seconds: float = Field(default=1.0, gt=0)
    source_restart_max_seconds: float = Field(default=60.0, gt=0)
    source_healthy_seconds: float = Field(
        default=10.0, gt=0, description="A source up this long is running again"
    )
    source_standby_seconds: float = Field(
        default=5.0, gt=0, description="How often a runner without a source's lease tries it"
    )
    # messaging
    exchange: str = "oryx.runner"
    studio_exchange: str = "oryx.studio"
    authorization_exchange: str = "oryx.authorization"
    queue_prefix: str = "runner"
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    migrations_dir: Path = SERVICE_ROOT / "migrations"
    log_level: str = "info"
