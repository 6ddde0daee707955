"""``python -m oryx_action_builder``: run the action builder.

Without ``ORYX_ACTION_BUILDER_BROKER_URL`` it listens on the in-process broker (useful only
inside the embedded platform); with it, on RabbitMQ. ``build FOLDER`` builds one action folder
once, without any broker, and prints the events it would publish.
"""

import argparse
import asyncio
import contextlib
import logging
import sys

from pydantic import ValidationError


def _settings(args: argparse.Namespace) -> object:
    from oryx_action_builder.config import Settings

    overrides = {
        key: value
        for key, value in {
            "builder": args.builder,
            "artifacts_dir": args.artifacts_dir,
            "broker_url": getattr(args, "broker_url", None),
        }.items()
        if value is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        print(f"oryx-action-builder: invalid configuration:\n{exc}", file=sys.stderr)
        return None


def serve(args: argparse.Namespace) -> int:
    from oryx_action_builder.config import Settings
    from oryx_action_builder.service import serve as run

    settings = _settings(args)
    if not isinstance(settings, Settings):
        return 2
    logging.getLogger().setLevel(settings.log_level.upper())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings))
    except OSError as exc:  # RabbitMQ unreachable at start, artifacts folder not writable
        print(f"oryx-action-builder: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def build(args: argparse.Namespace) -> int:
    from oryx_action_builder.config import Settings
    from oryx_action_builder.tools import build_folder

    settings = _settings(args)
    if not isinstance(settings, Settings):
        return 2
    return build_folder(settings, args.folder, python_version=args.python_version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oryx_action_builder",
        description="The Oryx action builder: consumes BuildRequested and BuildCancelled, "
        "builds one action at a time, reports BuildStarted and BuildFinished. Settings come "
        "from ORYX_ACTION_BUILDER_* variables (docs/action-builder.md).",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("serve", help="consume build requests until stopped (the default)")
    once = sub.add_parser(
        "build", help="build one action folder now, without a broker, and print the result"
    )
    once.add_argument("folder", help="the action folder (with its ryax_metadata.yaml)")
    once.add_argument("--python-version", default="", help="as options.python.version")
    for p in (parser, run, once):
        p.add_argument("--builder", choices=["local", "image"], help="default: local")
        p.add_argument("--artifacts-dir", help="where artifacts are built")
    for p in (parser, run):
        p.add_argument("--broker-url", help="amqp://... (default: the in-process broker)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    if args.command == "build":
        return build(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
