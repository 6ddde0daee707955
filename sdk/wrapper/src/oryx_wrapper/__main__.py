"""`python -m oryx_wrapper --action-dir DIR --port N`: serve one action over gRPC."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from .metadata import MetadataError
from .server import Settings, serve


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m oryx_wrapper",
        description="Serve one Oryx (or Ryax) action over gRPC (oryx.action_wrapper.v1).",
    )
    parser.add_argument(
        "--action-dir",
        type=Path,
        required=True,
        help="the action's folder (ryax_metadata.yaml or oryx_metadata.yaml)",
    )
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes, i.e. executions at the same time (default: 1)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where executions and staged files live (default: a temporary folder)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        help="seconds the action may take to import (default: %(default)s)",
    )
    parser.add_argument(
        "--transfer-timeout",
        type=float,
        default=300.0,
        help="seconds for one download or upload (default: %(default)s)",
    )
    parser.add_argument(
        "--staged-ttl",
        type=float,
        default=3600.0,
        help="seconds a staged file waits for UploadFiles (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return Settings(
        action_dir=args.action_dir,
        host=args.host,
        port=args.port,
        workers=args.workers,
        work_dir=args.work_dir,
        startup_timeout=args.startup_timeout,
        transfer_timeout=args.transfer_timeout,
        staged_ttl=args.staged_ttl,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        asyncio.run(serve(settings))
    except MetadataError as error:
        print(f"oryx-wrapper: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"oryx-wrapper: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
