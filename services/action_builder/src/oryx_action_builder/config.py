"""Settings of the action builder, read from ``ORYX_ACTION_BUILDER_*`` variables.

Every setting is documented in ``docs/action-builder.md``.
"""

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    try:
        import platformdirs

        return Path(platformdirs.user_data_dir("oryx"))
    except ImportError:
        return Path(os.path.expanduser("~/.local/share/oryx"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORYX_ACTION_BUILDER_", extra="ignore")

    # messaging
    broker_url: str | None = Field(
        default=None,
        description="RabbitMQ URL (amqp://...). Unset: the in-process broker.",
    )
    exchange: str = Field(default="oryx.action_builder", description="Where events go")
    repository_exchange: str = Field(
        default="oryx.repository", description="Where build requests and cancels come from"
    )
    queue_prefix: str = Field(
        default="action_builder",
        description="Queues: <prefix>.build-requested and <prefix>.build-cancelled",
    )

    # building
    builder: Literal["local", "image"] = Field(
        default="local",
        description="local: a virtualenv per action; image: an OCI build context (cannot "
        "build yet)",
    )
    data_dir: Path | None = Field(
        default=None, description="Default root of artifacts_dir and filestore_dir"
    )
    artifacts_dir: Path | None = Field(
        default=None, description="Where artifacts are built; default <data_dir>/artifacts"
    )
    python: str = Field(
        default=sys.executable,
        description="The interpreter of new virtualenvs (actions asking for no version)",
    )
    pip_python: str = Field(
        default=sys.executable,
        description="The interpreter whose pip installs into the virtualenvs",
    )
    pip_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Wall-clock limit of one build's venv and pip steps"
    )
    pip_network_timeout_seconds: float = Field(default=30.0, gt=0)
    pip_index_url: str | None = Field(
        default=None, description="Package index of the builds; unset: pip's own configuration"
    )
    wrapper_path: Path | None = Field(
        default=None,
        description="oryx-wrapper source tree or wheel; unset: this checkout's sdk/wrapper "
        "when there is one, else wrapper_requirement from the package index",
    )
    wrapper_requirement: str = Field(default="oryx-wrapper")
    base_image: str = Field(
        default="python:{python_version}-slim",
        description="Base image of the image builder; {python_version} is the action's",
    )
    log_tail_lines: int = Field(default=40, ge=1, le=1000)
    max_source_bytes: int = Field(
        default=100 * 1024 * 1024,
        gt=0,
        description="Limit of a source archive, downloaded and extracted",
    )

    # filestore
    filestore_dir: Path | None = Field(
        default=None,
        description="Local-folder filestore (when s3_endpoint is unset); default "
        "<data_dir>/filestore",
    )
    s3_endpoint: str | None = Field(
        default=None, description="host:port or URL of the S3 server; set: use S3"
    )
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "oryx"
    s3_region: str | None = None
    s3_secure: bool | None = Field(
        default=None, description="TLS; unset: from the endpoint's scheme (https)"
    )

    log_level: str = "info"

    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir()

    def resolved_artifacts_dir(self) -> Path:
        return self.artifacts_dir or self.resolved_data_dir() / "artifacts"

    def resolved_filestore_dir(self) -> Path:
        return self.filestore_dir or self.resolved_data_dir() / "filestore"
