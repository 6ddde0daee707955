"""Settings of the repository service, read from ``ORYX_REPOSITORY_*`` variables.

Every setting is documented in ``docs/operators/configuration.md``.
"""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORYX_REPOSITORY_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset: an embedded PostgreSQL under data_dir"
    )
    broker_url: str | None = Field(default=None, description="RabbitMQ URL; unset: in-process")
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8082, ge=1, le=65535)
    public_url: str | None = Field(
        default=None, description="How others reach this service (presigned local-file URLs)"
    )
    authorization_url: str = Field(
        default="http://127.0.0.1:8081", description="Base URL of the authorization service"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key encrypting Git credentials at rest; unset: a key file in data_dir",
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
    # git and scans
    allow_file_urls: bool = Field(default=False, description="Accept file:// sources (dev only)")
    clone_timeout_seconds: float = Field(default=120, gt=0)
    max_repository_bytes: int = Field(default=500 * 1024**2, gt=0)
    max_file_bytes: int = Field(default=50 * 1024**2, gt=0)
    # messaging
    exchange: str = "oryx.repository"
    builder_exchange: str = "oryx.action_builder"
    authorization_exchange: str = "oryx.authorization"
    queue_prefix: str = "repository"
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    migrations_dir: Path = SERVICE_ROOT / "migrations"
    log_level: str = "info"
