"""How long `oryx up` takes to serve requests: a first start (empty data directory) and a
second start (the same directory, everything already there).

    .venv/bin/python tests/bench/startup.py

Prints the seconds from spawning `oryx up` until every service answers its health check.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PREFIXES = ("/authorization", "/repository", "/studio", "/runner")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_and_time(data_dir: Path) -> float:
    port = free_port()
    env = {**os.environ, "ORYX_ADMIN_PASSWORD": "bench-admin-password"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "oryx_cli", "up", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pending = set(PREFIXES)
        while pending:
            if process.poll() is not None:
                raise SystemExit(f"oryx up exited with {process.returncode}")
            for prefix in list(pending):
                try:
                    url = f"http://127.0.0.1:{port}{prefix}/healthz"
                    if httpx.get(url, timeout=1).status_code == 200:
                        pending.discard(prefix)
                except httpx.TransportError:
                    pass
            time.sleep(0.02)
        return time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="oryx-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        first = start_and_time(data_dir)
        second = start_and_time(data_dir)
        third = start_and_time(data_dir)
    print(
        f"oryx up, time to serve every API: first start {first:.2f} s (empty data directory), "
        f"second start {second:.2f} s, third start {third:.2f} s"
    )


if __name__ == "__main__":
    main()
