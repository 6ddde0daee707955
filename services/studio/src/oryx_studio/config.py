"""Settings of the studio service, read from ``ORYX_STUDIO_*`` variables.

Every setting is described in ``docs/studio.md``.
"""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORYX_STUDIO_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset: an embedded PostgreSQL under data_dir"
    )
    broker_url: str | None = Field(default=None, description="RabbitMQ URL; unset: in-process")
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8083, ge=1, le=65535)
    authorization_url: str = Field(
        default="http://127.0.0.1:8081", description="Base URL of the authorization service"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key encrypting password variables at rest; unset: a key file in "
        "data_dir",
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
    max_file_bytes: int = Field(
        default=50 * 1024**2, gt=0, description="Largest static file, file variable or import"
    )
    # messaging
    exchange: str = "oryx.studio"
    repository_exchange: str = "oryx.repository"
    runner_exchange: str = "oryx.runner"
    authorization_exchange: str = "oryx.authorization"
    queue_prefix: str = "studio"
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    migrations_dir: Path = SERVICE_ROOT / "migrations"
    log_level: str = "info"
