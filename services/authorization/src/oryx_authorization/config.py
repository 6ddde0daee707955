"""Settings of the authorization service, read from ``ORYX_AUTHORIZATION_*`` variables.

Every setting is documented in ``docs/operators/configuration.md``.
"""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORYX_AUTHORIZATION_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql+asyncpg://...). Unset: start an embedded "
        "PostgreSQL under data_dir.",
    )
    broker_url: str | None = Field(
        default=None,
        description="RabbitMQ URL (amqp://...). Unset: the in-process broker.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Where the embedded mode keeps its state; default: the user's data dir.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    login_token_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    exchange: str = Field(default="oryx.authorization", description="Topic exchange of events")
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    migrations_dir: Path = SERVICE_ROOT / "migrations"
    log_level: str = "info"


class AdminSettings(BaseSettings):
    """Shared by every Oryx service: ``ORYX_ADMIN_PASSWORD`` seeds the first admin."""

    model_config = SettingsConfigDict(env_prefix="ORYX_", extra="ignore")

    admin_password: SecretStr | None = None
