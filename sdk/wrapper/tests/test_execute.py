"""Processors through real gRPC: a wrapper process, presigned-URL-like HTTP endpoints."""

from __future__ import annotations

import io
import tarfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from oryx_wrapper.generated.action_wrapper.v1 import wrapper_pb2 as pb

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "actions"
Status = pb.ExecuteResponse

TRICKS_METADATA = """\
apiVersion: "ryax.tech/v2.0"
kind: Processor
spec:
  id: tricks
  human_name: Tricks
  description: Misbehaves on request
  version: "0.1"
  type: python3
  resources: {time: 20s}
  inputs:
    - {name: mode, type: string, human_name: Mode, help: What to do}
    - {name: seconds, type: float, human_name: Seconds, help: For sleep, default_value: 0}
  outputs:
    - {name: n, type: integer, human_name: N, help: A number, optional: true}
    - {name: value, type: string, human_name: Value, help: A text, optional: true}
    - {name: doc, type: file, human_name: Doc, help: A file, optional: true}
"""

TRICKS_HANDLER = """\
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from oryx_wrapper import current_execution_id

CALLS = 0
AT_IMPORT = os.environ.get("ORYX_EXECUTION_ID")


def whoami(seconds):
    # the id seen by the function, the environment, a child process, and again later
    first = current_execution_id()
    child = os.popen("echo ${ORYX_EXECUTION_ID:-none}").read().strip()
    time.sleep(seconds)
    return f"{first}|{os.environ.get('ORYX_EXECUTION_ID')}|{child}|{current_execution_id()}"


def handle(inputs):
    global CALLS
    CALLS += 1
    mode = inputs["mode"]
    if mode == "pid":
        return {"n": os.getpid()}
    if mode == "calls":
        return {"n": CALLS}
    if mode == "whoami":
        return {"n": os.getpid(), "value": whoami(inputs["seconds"])}
    if mode == "at-import":
        return {"value": str(AT_IMPORT)}
    if mode == "exit":
        os._exit(3)
    if mode == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if mode == "memory":
        raise MemoryError()
    if mode == "sleep":
        print("going to sleep", flush=True)
        time.sleep(inputs["seconds"])
        return {"value": "awake"}
    if mode == "bad-output":
        return {"n": "not a number", "value": 3}
    if mode == "missing-file":
        return {"doc": "/nonexistent/file.txt"}
    if mode == "not-dict":
        return 42
    if mode == "raise":
        raise ValueError("boom")
    if mode == "sysexit":
        sys.exit(2)
    if mode == "logs":
        print("to stdout")
        print("to stderr", file=sys.stderr)
        logging.getLogger("tricks").warning("a warning")
        os.system("echo from-a-subprocess")
        return {}
    if mode == "fanout":
        sets = []
        for i in range(3):
            path = Path(tempfile.mkdtemp()) / f"part-{i}.txt"
            path.write_text(f"part {i}")
            sets.append({"n": i, "doc": str(path)})
        return sets
    return {"value": mode}
"""


def plain(value: pb.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind in (None, "null_value"):
        return None
    return getattr(value, kind)


def outputs(response: pb.ExecuteResponse, index: int = 0) -> dict[str, Any]:
    return {name: plain(v) for name, v in response.output_sets[index].values.items()}


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def streams(response: pb.ExecuteResponse) -> list[tuple[str, str]]:
    return [(pb.LogLine.Stream.Name(line.stream), line.text) for line in response.logs]


@pytest.fixture(scope="module")
def tricks_dir(module_dir):
    folder = module_dir / "tricks"
    folder.mkdir()
    (folder / "ryax_metadata.yaml").write_text(TRICKS_METADATA)
    (folder / "ryax_handler.py").write_text(TRICKS_HANDLER)
    return folder


@pytest.fixture(scope="module")
def tricks(wrappers, tricks_dir):
    return wrappers(tricks_dir)


@pytest.fixture(scope="module")
def echo(wrappers):
    return wrappers(EXAMPLES / "echo")


def mode(name: str, **more: pb.Value) -> dict[str, pb.Value]:
    return {"mode": pb.Value(string_value=name), **more}


# --- describe, health ------------------------------------------------------------------------


def test_describe_gives_the_metadata(echo) -> None:
    described = echo.stub.Describe(pb.DescribeRequest())
    assert (described.id, described.version, described.kind) == (
        "echo",
        "1.0",
        pb.DescribeResponse.PROCESSOR,
    )
    types = {d.name: pb.IoDefinition.Type.Name(d.type) for d in described.inputs}
    assert types == {
        "text": "STRING",
        "long_text": "LONGSTRING",
        "secret": "PASSWORD",
        "count": "INTEGER",
        "ratio": "FLOAT",
        "flag": "BOOLEAN",
        "color": "ENUM",
        "document": "FILE",
        "folder": "DIRECTORY",
    }
    defaults = {
        d.name: plain(d.default_value) for d in described.inputs if d.HasField("default_value")
    }
    assert defaults["count"] == 42 and defaults["flag"] is True and defaults["color"] == "green"
    assert "document" not in defaults
    assert [d.name for d in described.outputs] == [d.name for d in described.inputs]
    assert described.time_limit_seconds == 30
    assert described.workers == 1 and described.load_error == ""
    assert described.metadata_file == "ryax_metadata.yaml"


def test_the_wrapper_answers_health_checks(echo) -> None:
    assert echo.health() == health_pb2.HealthCheckResponse.SERVING


# --- values of every type --------------------------------------------------------------------


def test_echo_with_default_values(echo) -> None:
    response = echo.execute()
    assert response.status == Status.SUCCESS, response.error
    assert outputs(response) == {
        "text": "hello",
        "long_text": "A longer text,\nover two lines.",
        "secret": "s3cret",
        "count": 42,
        "ratio": 0.5,
        "flag": True,
        "color": "green",
        "document": None,
        "folder": None,
    }
    assert ("STDOUT", f"echoing {sorted(outputs(response))}") in streams(response)
    assert response.duration_seconds >= response.handler_seconds > 0


def test_echo_every_type_with_a_file_and_a_directory(echo, files) -> None:
    document = files.put("in/report.txt", b"the report\n")
    folder = files.put("in/photos.tar.gz", tar_gz({"a.txt": b"A", "sub/b.txt": b"B"}))
    response = echo.execute(
        inputs={
            "text": pb.Value(string_value="hi"),
            "long_text": pb.Value(string_value="line 1\nline 2"),
            "secret": pb.Value(string_value="pw"),
            "count": pb.Value(integer_value=-7),
            "ratio": pb.Value(float_value=2.25),
            "flag": pb.Value(boolean_value=False),
            "color": pb.Value(string_value="blue"),
            "document": pb.Value(file=pb.File(url=document, name="report.txt")),
            "folder": pb.Value(directory=pb.File(url=folder, name="photos.tar.gz")),
        },
        output_uploads={
            "document": pb.OutputUpload(put_urls=[files.url("out/document")]),
            "folder": pb.OutputUpload(put_urls=[files.url("out/folder")]),
        },
    )
    assert response.status == Status.SUCCESS, response.error
    values = response.output_sets[0].values
    assert plain(values["count"]) == -7 and plain(values["ratio"]) == 2.25
    assert plain(values["flag"]) is False and plain(values["color"]) == "blue"
    assert plain(values["long_text"]) == "line 1\nline 2"
    assert values["document"].file.name == "report.txt"
    assert values["document"].file.size_bytes == len(b"the report\n")
    assert values["document"].file.url == files.url("out/document")
    assert files.objects["out/document"] == b"the report\n"
    assert values["folder"].directory.name == "photos.tar.gz"
    assert untar(files.objects["out/folder"]) == {"a.txt": b"A", "sub/b.txt": b"B"}


def test_inputs_are_checked_against_the_metadata(echo) -> None:
    response = echo.execute(
        inputs={
            "count": pb.Value(string_value="12"),
            "color": pb.Value(string_value="purple"),
            "flag": pb.Value(integer_value=1),
            "nope": pb.Value(string_value="x"),
            "document": pb.Value(directory=pb.File(url="http://127.0.0.1:1/x", name="x.tar.gz")),
        }
    )
    assert response.status == Status.INVALID_INPUT
    message = response.error.message
    expected_problems = [
        "'count'",
        "'purple' is not one of red, green, blue",
        "'flag'",
        "unknown input 'nope'",
        "'document'",
    ]
    for expected in expected_problems:
        assert expected in message
    assert list(response.logs) == []  # handle did not run


def test_a_required_input_must_be_given(wrappers) -> None:
    transform = wrappers(EXAMPLES / "file-transform")
    response = transform.execute()
    assert response.status == Status.INVALID_INPUT
    assert "input 'text_file' is required" in response.error.message


# --- the examples ----------------------------------------------------------------------------


def test_file_transform_reads_a_file_and_uploads_another(wrappers, files) -> None:
    transform = wrappers(EXAMPLES / "file-transform")
    url = files.put("in/poem.txt", b"one\ntwo\nthree\n")
    response = transform.execute(
        inputs={
            "text_file": pb.Value(file=pb.File(url=url, name="poem.txt")),
            "mode": pb.Value(string_value="reverse-lines"),
        },
        output_uploads={"result": pb.OutputUpload(put_urls=[files.url("out/poem")])},
    )
    assert response.status == Status.SUCCESS, response.error
    assert files.objects["out/poem"] == b"three\ntwo\none\n"
    assert outputs(response)["lines"] == 3
    assert response.output_sets[0].values["result"].file.name == "poem-reverse-lines.txt"

    # no PUT URL: the file is staged, then uploaded by UploadFiles
    staged = transform.execute(
        inputs={"text_file": pb.Value(file=pb.File(url=url, name="poem.txt"))}
    )
    file = staged.output_sets[0].values["result"].file
    assert file.staged_id and not file.url and file.size_bytes == 14
    answer = transform.stub.UploadFiles(
        pb.UploadFilesRequest(
            uploads=[pb.FileUpload(staged_id=file.staged_id, put_url=files.url("out/staged"))]
        )
    )
    assert answer.results[0].uploaded and answer.results[0].sha256 == file.sha256
    assert files.objects["out/staged"] == b"ONE\nTWO\nTHREE\n"
    again = transform.stub.UploadFiles(
        pb.UploadFilesRequest(
            uploads=[pb.FileUpload(staged_id=file.staged_id, put_url=files.url("out/x"))]
        )
    )
    assert not again.results[0].uploaded and "unknown" in again.results[0].error


def test_dir_transform_takes_a_zip_and_gives_a_directory(wrappers, files) -> None:
    transform = wrappers(EXAMPLES / "dir-transform")
    url = files.put("in/notes.zip", zipped({"a.txt": b"alpha", "deep/b.txt": b"beta"}))
    response = transform.execute(
        inputs={"folder": pb.Value(directory=pb.File(url=url, name="notes.zip"))},
        output_uploads={"result": pb.OutputUpload(put_urls=[files.url("out/notes")])},
    )
    assert response.status == Status.SUCCESS, response.error
    assert outputs(response)["files"] == 2
    assert response.output_sets[0].values["result"].directory.name == "notes-upper.tar.gz"
    assert untar(files.objects["out/notes"]) == {
        "a.txt": b"ALPHA",
        "deep/b.txt": b"BETA",
        "MANIFEST": b"a.txt\t5\ndeep/b.txt\t4\n",
    }


def test_a_ryax_exception_carries_its_code_and_message(wrappers) -> None:
    not_found = wrappers(EXAMPLES / "not-found")
    response = not_found.execute(inputs={"query": pb.Value(string_value="unicorns")})
    assert response.status == Status.USER_ERROR
    assert response.error.HasField("code") and response.error.code == 404
    assert response.error.message == "nothing found for 'unicorns'"
    assert response.error.type == "RyaxException"
    assert ("STDOUT", "looking for 'unicorns'") in streams(response)


def test_the_time_limit_of_the_metadata_is_enforced(wrappers) -> None:
    sleep = wrappers(EXAMPLES / "sleep")
    fine = sleep.execute(inputs={"seconds": pb.Value(float_value=0.05)})
    assert fine.status == Status.SUCCESS and outputs(fine)["slept"] >= 0.05
    started = time.monotonic()
    response = sleep.execute(inputs={"seconds": pb.Value(float_value=30)})
    assert response.status == Status.TIMEOUT
    assert 1.9 < time.monotonic() - started < 6
    assert "more than 2 s" in response.error.message
    assert ("STDOUT", "sleeping 30.0 s") in streams(response)  # kept although the worker was killed
    assert sleep.execute(inputs={"seconds": pb.Value(float_value=0)}).status == Status.SUCCESS


def test_executions_run_at_the_same_time_with_several_workers(wrappers) -> None:
    sleep = wrappers(EXAMPLES / "sleep", "--workers", "3")
    answers: list[pb.ExecuteResponse] = []

    def one(i: int) -> None:
        answers.append(
            sleep.execute(execution_id=f"c{i}", inputs={"seconds": pb.Value(float_value=1)})
        )

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status for a in answers] == [Status.SUCCESS] * 3
    assert time.monotonic() - started < 2.0


# --- failures --------------------------------------------------------------------------------


def test_an_exception_gives_its_message_and_traceback(tricks) -> None:
    response = tricks.execute(inputs=mode("raise"))
    assert response.status == Status.USER_ERROR
    assert (response.error.message, response.error.type) == ("boom", "ValueError")
    assert not response.error.HasField("code")
    assert "ryax_handler.py" in response.error.traceback
    assert response.error.traceback.rstrip().endswith("ValueError: boom")


def test_sys_exit_is_a_user_error_and_the_worker_survives(tricks) -> None:
    pid = outputs(tricks.execute(inputs=mode("pid")))["n"]
    response = tricks.execute(inputs=mode("sysexit"))
    assert response.status == Status.USER_ERROR and response.error.type == "SystemExit"
    assert outputs(tricks.execute(inputs=mode("pid")))["n"] == pid


@pytest.mark.parametrize(
    ("trick", "reason"),
    [
        ("exit", "the worker exited with code 3"),
        ("segfault", "the worker was killed by SIGSEGV"),
        ("memory", "MemoryError"),
    ],
)
def test_a_crash_is_reported_and_a_new_worker_takes_over(tricks, trick: str, reason: str) -> None:
    before = outputs(tricks.execute(inputs=mode("pid")))["n"]
    response = tricks.execute(inputs=mode(trick))
    assert response.status == Status.CRASH
    assert reason in f"{response.error.type} {response.error.message}"
    after = tricks.execute(inputs=mode("pid"))
    assert after.status == Status.SUCCESS
    assert outputs(after)["n"] != before


def test_a_request_timeout_stops_the_handler(tricks) -> None:
    started = time.monotonic()
    response = tricks.execute(
        inputs=mode("sleep", seconds=pb.Value(float_value=30)), timeout_seconds=0.5
    )
    assert response.status == Status.TIMEOUT
    assert time.monotonic() - started < 5
    lines = streams(response)
    assert ("STDOUT", "going to sleep") in lines
    assert lines[-1][0] == "WRAPPER" and "0.5 s" in lines[-1][1]
    assert tricks.execute(inputs=mode("hello")).status == Status.SUCCESS


@pytest.mark.parametrize(
    ("trick", "expected"),
    [
        ("bad-output", ["output 'n': expected an integer", "output 'value': expected a string"]),
        ("missing-file", ["output 'doc': '/nonexistent/file.txt' is not a file"]),
        ("not-dict", ["handle must return a dict or a list of dicts, got int"]),
    ],
)
def test_outputs_are_checked_against_the_metadata(tricks, trick: str, expected: list[str]) -> None:
    response = tricks.execute(inputs=mode(trick))
    assert response.status == Status.INVALID_OUTPUT
    for text in expected:
        assert text in response.error.message


def test_a_download_failure_is_a_transfer_error_and_can_be_retried(echo, files) -> None:
    url = files.url("in/later.txt")
    request = {"document": pb.Value(file=pb.File(url=url, name="later.txt"))}
    first = echo.execute(execution_id="retry-me", inputs=request)
    assert first.status == Status.TRANSFER_ERROR and "HTTP 404" in first.error.message
    assert "X-Signature" not in first.error.message  # no presigned signature in messages
    files.put("in/later.txt", b"now here")
    second = echo.execute(execution_id="retry-me", inputs=request)
    assert second.status == Status.SUCCESS and not second.replayed


def test_an_upload_failure_is_a_transfer_error(echo, files) -> None:
    document = files.put("in/up.txt", b"x")
    files.failing.add("out/forbidden")
    response = echo.execute(
        inputs={"document": pb.Value(file=pb.File(url=document, name="up.txt"))},
        output_uploads={"document": pb.OutputUpload(put_urls=[files.url("out/forbidden")])},
    )
    assert response.status == Status.TRANSFER_ERROR and "HTTP 403" in response.error.message


# --- behaviour -------------------------------------------------------------------------------


def test_an_execution_id_runs_once(tricks) -> None:
    first = tricks.execute(execution_id="same-id", inputs=mode("calls"))
    second = tricks.execute(execution_id="same-id", inputs=mode("calls"))
    assert first.status == second.status == Status.SUCCESS
    assert outputs(first) == outputs(second) and second.replayed and not first.replayed
    third = tricks.execute(execution_id="other-id", inputs=mode("calls"))
    assert outputs(third)["n"] == outputs(first)["n"] + 1


def test_the_handler_sees_its_execution_id_and_only_during_its_call(tricks) -> None:
    answer = tricks.execute(execution_id="step-42", inputs=mode("whoami"))
    assert outputs(answer)["value"] == "step-42|step-42|step-42|step-42"
    again = tricks.execute(execution_id="step-42", inputs=mode("whoami"))
    assert again.replayed and outputs(again) == outputs(answer)  # handle did not run again
    assert tricks.execute(execution_id="step-43", inputs=mode("raise")).status == Status.USER_ERROR
    # the same worker, a caller that sends no id: nothing is left of the previous calls
    anonymous = tricks.stub.Execute(pb.ExecuteRequest(inputs=mode("whoami")), timeout=30)
    assert outputs(anonymous)["value"] == "None|None|none|None"
    assert outputs(anonymous)["n"] == outputs(answer)["n"]


def test_concurrent_workers_each_see_their_own_id_never_an_inherited_one(
    wrappers, tricks_dir, monkeypatch
) -> None:
    monkeypatch.setenv("ORYX_EXECUTION_ID", "in-the-wrapper-environment")
    action = wrappers(tricks_dir, "--workers", "2")
    answers: dict[str, pb.ExecuteResponse] = {}

    def one(execution_id: str) -> None:
        inputs = mode("whoami", seconds=pb.Value(float_value=0.3))
        answers[execution_id] = action.execute(execution_id=execution_id, inputs=inputs)

    threads = [threading.Thread(target=one, args=(f"run-7-step-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for execution_id, answer in answers.items():
        assert answer.status == Status.SUCCESS, answer.error
        assert outputs(answer)["value"] == "|".join([execution_id] * 4)
    assert len({outputs(answer)["n"] for answer in answers.values()}) == 2  # both workers, twice
    assert outputs(action.execute(inputs=mode("at-import")))["value"] == "None"
    anonymous = action.stub.Execute(pb.ExecuteRequest(inputs=mode("whoami")), timeout=30)
    assert outputs(anonymous)["value"] == "None|None|none|None"


def test_an_id_sent_again_to_a_new_wrapper_is_the_actions_idempotency_key(
    wrappers, tmp_path
) -> None:
    inputs = {"outbox": pb.Value(string_value=str(tmp_path / "outbox"))}
    first = wrappers(EXAMPLES / "send-once")
    assert outputs(first.execute(execution_id="step-9", inputs=inputs)) == {
        "key": "step-9",
        "sent": True,
    }
    first.stop()  # the wrapper is gone with its answers: the step is sent to another one
    second = wrappers(EXAMPLES / "send-once")
    again = second.execute(execution_id="step-9", inputs=inputs)
    assert not again.replayed and outputs(again) == {"key": "step-9", "sent": False}
    assert outputs(second.execute(execution_id="step-10", inputs=inputs))["sent"] is True
    assert len(list((tmp_path / "outbox").iterdir())) == 2


def test_stdout_stderr_and_logging_are_captured_per_execution(tricks) -> None:
    response = tricks.execute(inputs=mode("logs"))
    assert response.status == Status.SUCCESS, response.error
    lines = streams(response)
    assert ("STDOUT", "to stdout") in lines
    assert ("STDERR", "to stderr") in lines
    assert ("LOGGING", "tricks: a warning") in lines
    assert ("STDOUT", "from-a-subprocess") in lines
    warning = next(line for line in response.logs if line.stream == pb.LogLine.LOGGING)
    assert warning.level == "WARNING" and abs(warning.time.seconds - time.time()) < 60
    assert streams(tricks.execute(inputs=mode("quiet"))) == []


def test_a_list_of_dicts_gives_several_output_sets(tricks, files) -> None:
    urls = [files.url(f"out/part-{i}") for i in range(2)]  # one short: the third is staged
    response = tricks.execute(
        inputs=mode("fanout"), output_uploads={"doc": pb.OutputUpload(put_urls=urls)}
    )
    assert response.status == Status.SUCCESS, response.error
    assert [outputs(response, i)["n"] for i in range(3)] == [0, 1, 2]
    assert files.objects["out/part-0"] == b"part 0" and files.objects["out/part-1"] == b"part 1"
    third = response.output_sets[2].values["doc"].file
    assert third.staged_id and third.name == "part-2.txt"


def test_a_source_cannot_be_executed(wrappers) -> None:
    source = wrappers(EXAMPLES / "one-run")
    with pytest.raises(grpc.RpcError) as raised:
        source.execute()
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_an_action_that_cannot_load_answers_crash(wrappers, module_dir) -> None:
    folder = module_dir / "broken"
    folder.mkdir()
    (folder / "ryax_metadata.yaml").write_text(TRICKS_METADATA.replace("id: tricks", "id: broken"))
    (folder / "ryax_handler.py").write_text("import not_a_module_anywhere\n")
    broken = wrappers(folder)
    assert "not_a_module_anywhere" in broken.stub.Describe(pb.DescribeRequest()).load_error
    response = broken.execute(inputs=mode("x"))
    assert response.status == Status.CRASH
    assert response.error.message.startswith("the action cannot load")
    assert "ModuleNotFoundError" in response.error.traceback
    assert broken.health() == health_pb2.HealthCheckResponse.NOT_SERVING


def test_an_async_handle_and_the_packaged_ryax_exception(wrappers, module_dir) -> None:
    folder = module_dir / "async-action"
    folder.mkdir()
    metadata = TRICKS_METADATA.replace("id: tricks", "id: async-action")
    (folder / "ryax_metadata.yaml").write_text(metadata)
    (folder / "ryax_handler.py").write_text(
        "import asyncio\n"
        "from ryax_wrapper import RyaxException\n\n\n"
        "async def handle(inputs):\n"
        "    await asyncio.sleep(0)\n"
        "    if inputs['mode'] == 'fail':\n"
        "        raise RyaxException(message='teapot', code=418)\n"
        "    return {'value': inputs['mode'].upper()}\n"
    )
    action = wrappers(folder)
    assert outputs(action.execute(inputs=mode("shout")))["value"] == "SHOUT"
    failed = action.execute(inputs=mode("fail"))
    assert failed.status == Status.USER_ERROR
    assert (failed.error.code, failed.error.message) == (418, "teapot")
