"""Sources through real gRPC: Run streams the runs a source creates."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from oryx_wrapper.generated.action_wrapper.v1 import wrapper_pb2 as pb

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "actions"

SOURCE_METADATA = """\
apiVersion: "ryax.tech/v2.0"
kind: Trigger
spec:
  id: tricky-source
  human_name: Tricky source
  description: Misbehaves on request
  version: "0.1"
  type: python3
  dynamic_outputs: true
  inputs:
    - {name: mode, type: enum, enum_values: [errors, forever, crash], human_name: M, help: M}
    - {name: pid_file, type: string, human_name: P, help: P, optional: true}
  outputs:
    - {name: label, type: string, human_name: Label, help: A label}
"""

SOURCE_RUN = """\
import asyncio
import os

from ryax_wrapper import RyaxRunStatus, RyaxSourceProtocol


async def run(service: RyaxSourceProtocol, input_values: dict) -> None:
    mode = input_values["mode"]
    if input_values["pid_file"]:
        with open(input_values["pid_file"], "w") as out:
            out.write(str(os.getpid()))
    if mode == "crash":
        os._exit(7)
    if mode == "forever":
        while True:
            await asyncio.sleep(0.05)
    definitions = service.get_output_definitions()
    print("outputs:", sorted(definitions))
    await service.create_run({"label": "first", "extra": 5})
    await service.create_run_error("something went wrong", code=503)
    await service.create_run({}, status=RyaxRunStatus.ERROR)
    try:
        await service.create_run({"label": 12})
    except ValueError as error:
        await service.create_run({"label": str(error), "extra": 0})
    raise RuntimeError("the source gives up")
"""


def plain(value: pb.Value) -> Any:
    kind = value.WhichOneof("kind")
    return None if kind in (None, "null_value") else getattr(value, kind)


def events(stream: Any) -> list[pb.RunEvent]:
    return list(stream)


def kinds(received: list[pb.RunEvent]) -> list[str]:
    return [e.WhichOneof("event") for e in received if e.WhichOneof("event") != "logs"]


def log_text(received: list[pb.RunEvent]) -> list[str]:
    return [line.text for e in received if e.WhichOneof("event") == "logs" for line in e.logs.lines]


@pytest.fixture(scope="module")
def tricky(wrappers, module_dir):
    folder = module_dir / "tricky-source"
    folder.mkdir()
    (folder / "ryax_metadata.yaml").write_text(SOURCE_METADATA)
    (folder / "ryax_run.py").write_text(SOURCE_RUN)
    return wrappers(folder)


def test_describe_a_source(wrappers) -> None:
    source = wrappers(EXAMPLES / "emit-every")
    described = source.stub.Describe(pb.DescribeRequest())
    assert described.kind == pb.DescribeResponse.SOURCE
    assert [o.name for o in described.outputs] == ["index", "time"]


def test_emit_every_streams_a_run_every_period(wrappers) -> None:
    source = wrappers(EXAMPLES / "emit-every")
    started = time.monotonic()
    request = pb.RunRequest(
        run_id="r1",
        inputs={"seconds": pb.Value(float_value=0.2), "max_runs": pb.Value(integer_value=3)},
    )
    received = events(source.stub.Run(request, timeout=30))
    elapsed = time.monotonic() - started
    assert kinds(received) == ["run_created"] * 3 + ["ended"]
    runs = [e.run_created for e in received if e.WhichOneof("event") == "run_created"]
    assert [plain(r.values.values["index"]) for r in runs] == [1, 2, 3]
    assert all("T" in plain(r.values.values["time"]) for r in runs)
    assert [e.sequence for e in received] == list(range(1, len(received) + 1))
    assert received[-1].ended.reason == pb.SourceEnded.RETURNED
    assert any(text.startswith("run 2 at ") for text in log_text(received))
    assert 0.6 <= elapsed < 10


def test_one_run_stages_its_file_for_upload(wrappers, files) -> None:
    source = wrappers(EXAMPLES / "one-run")
    received = events(source.stub.Run(pb.RunRequest(inputs={}), timeout=30))
    assert kinds(received) == ["run_created", "ended"]
    values = received[0].run_created.values.values
    assert plain(values["message"]) == "hello"
    note = values["note"].file
    assert note.name == "note.txt" and note.staged_id and note.size_bytes == 6
    answer = source.stub.UploadFiles(
        pb.UploadFilesRequest(
            uploads=[pb.FileUpload(staged_id=note.staged_id, put_url=files.url("runs/note"))]
        )
    )
    assert answer.results[0].uploaded
    assert files.objects["runs/note"] == b"hello\n"


def test_errors_dynamic_outputs_and_a_failing_source(tricky) -> None:
    request = pb.RunRequest(
        inputs={"mode": pb.Value(string_value="errors")},
        dynamic_outputs=[
            pb.IoDefinition(name="extra", type=pb.IoDefinition.INTEGER, human_name="Extra")
        ],
    )
    received = events(tricky.stub.Run(request, timeout=30))
    assert kinds(received) == ["run_created", "run_error", "run_error", "run_created", "ended"]
    first = received_of(received, "run_created")[0].values.values
    assert (plain(first["label"]), plain(first["extra"])) == ("first", 5)
    errors = received_of(received, "run_error")
    assert (errors[0].message, errors[0].code) == ("something went wrong", 503)
    assert not errors[1].HasField("code")
    invalid = plain(received_of(received, "run_created")[1].values.values["label"])
    assert "create_run: output 'label': expected a string" in invalid
    assert "outputs: ['extra', 'label']" in log_text(received)
    ended = received[-1].ended
    assert ended.reason == pb.SourceEnded.USER_ERROR
    assert ended.error.message == "the source gives up" and "RuntimeError" in ended.error.traceback


def received_of(received: list[pb.RunEvent], kind: str) -> list[Any]:
    return [getattr(e, kind) for e in received if e.WhichOneof("event") == kind]


def test_a_crashing_source_ends_with_crash(tricky) -> None:
    request = pb.RunRequest(inputs={"mode": pb.Value(string_value="crash")})
    received = events(tricky.stub.Run(request, timeout=30))
    assert received[-1].ended.reason == pb.SourceEnded.CRASH
    assert "exited with code 7" in received[-1].ended.error.message


def test_cancelling_the_call_stops_the_source(tricky, tmp_path) -> None:
    pid_file = tmp_path / "source.pid"
    request = pb.RunRequest(
        inputs={
            "mode": pb.Value(string_value="forever"),
            "pid_file": pb.Value(string_value=str(pid_file)),
        }
    )
    call = tricky.stub.Run(request)
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    call.cancel()
    while _alive(pid):
        assert time.monotonic() < deadline, "the source process is still running"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def test_invalid_inputs_end_the_stream_at_once(tricky) -> None:
    request = pb.RunRequest(inputs={"mode": pb.Value(string_value="dance")})
    received = events(tricky.stub.Run(request, timeout=30))
    assert kinds(received) == ["ended"]
    assert received[0].ended.reason == pb.SourceEnded.INVALID_INPUT
    assert "'dance' is not one of errors, forever, crash" in received[0].ended.error.message


def test_a_processor_cannot_be_run(wrappers) -> None:
    echo = wrappers(EXAMPLES / "echo")
    with pytest.raises(grpc.RpcError) as raised:
        events(echo.stub.Run(pb.RunRequest(), timeout=30))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
