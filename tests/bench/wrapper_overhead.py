"""Per-step overhead of the action wrapper: N sequential trivial Execute calls over real gRPC.

Starts `python -m oryx_wrapper` as a real process around a trivial action (one string in, the
same string out), warms it up, then times sequential Execute calls from a gRPC client and
prints p50/p95/p99 in milliseconds. What it measures is what the platform pays per step on top
of the user's code: gRPC, input and output checks, the working directory, the hop to the
worker process and back, and the log capture.

    .venv/bin/python tests/bench/wrapper_overhead.py [--requests 1000]
"""

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from oryx_wrapper.generated.action_wrapper.v1 import wrapper_pb2 as pb
from oryx_wrapper.generated.action_wrapper.v1 import wrapper_pb2_grpc as pb_grpc

METADATA = """\
apiVersion: "ryax.tech/v2.0"
kind: Processor
spec:
  id: bench-echo
  human_name: Bench echo
  description: Returns its input
  version: "1"
  type: python3
  inputs:
    - {name: text, human_name: Text, help: Text, type: string, default_value: hi}
  outputs:
    - {name: text, human_name: Text, help: Text, type: string}
"""
HANDLER = "def handle(inputs):\n    return {'text': inputs['text']}\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="oryx-bench-") as tmp:
        action = Path(tmp) / "bench-echo"
        action.mkdir()
        (action / "ryax_metadata.yaml").write_text(METADATA)
        (action / "ryax_handler.py").write_text(HANDLER)
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oryx_wrapper",
                "--action-dir",
                str(action),
                "--port",
                str(port),
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = pb_grpc.ActionWrapperStub(channel)
            value = pb.Value(string_value="hello")
            for i in range(100):  # warm-up
                stub.Execute(pb.ExecuteRequest(execution_id=f"w{i}", inputs={"text": value}))
            samples: list[float] = []
            handler: list[float] = []
            for i in range(requests):
                started = time.perf_counter()
                answer = stub.Execute(
                    pb.ExecuteRequest(execution_id=f"b{i}", inputs={"text": value})
                )
                samples.append((time.perf_counter() - started) * 1000)
                handler.append(answer.handler_seconds * 1000)
                assert answer.status == pb.ExecuteResponse.SUCCESS, answer.error
            channel.close()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    print(f"wrapper overhead, {requests} sequential trivial Execute calls over gRPC (ms):")
    print(
        f"  p50 {percentile(samples, 0.50):.2f}  p95 {percentile(samples, 0.95):.2f}  "
        f"p99 {percentile(samples, 0.99):.2f}  mean {statistics.fmean(samples):.2f}"
    )
    print(f"  of which handle itself, p50: {percentile(handler, 0.50):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    main(parser.parse_args().requests)
