"""Translation between the site port's values and the wrapper's protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime

from oryx_runner.application.ports import (
    ExecutionError,
    ExecutionOutcome,
    ExecutionRequest,
    ExecutionStatus,
    LogLine,
    ProducedFile,
    RemoteFile,
    SiteValue,
    UploadResult,
)
from oryx_runner.application.triggers_sources import (
    SourceEnded,
    SourceEvent,
    SourceLogs,
    SourceRequest,
    SourceRunCreated,
    SourceRunFailed,
)
from oryx_runner.domain.workflows import IoSpec, IoType
from oryx_runner.infrastructure.messaging.generated.action_wrapper.v1 import wrapper_pb2 as pb

_STATUS = {
    pb.ExecuteResponse.SUCCESS: ExecutionStatus.SUCCESS,
    pb.ExecuteResponse.USER_ERROR: ExecutionStatus.USER_ERROR,
    pb.ExecuteResponse.TIMEOUT: ExecutionStatus.TIMEOUT,
    pb.ExecuteResponse.CRASH: ExecutionStatus.CRASH,
    pb.ExecuteResponse.INVALID_INPUT: ExecutionStatus.INVALID_INPUT,
    pb.ExecuteResponse.INVALID_OUTPUT: ExecutionStatus.INVALID_OUTPUT,
    pb.ExecuteResponse.TRANSFER_ERROR: ExecutionStatus.TRANSFER_ERROR,
}
_STREAMS = {
    pb.LogLine.STDOUT: "stdout",
    pb.LogLine.STDERR: "stderr",
    pb.LogLine.LOGGING: "logging",
    pb.LogLine.WRAPPER: "wrapper",
}


_ENDED = {
    pb.SourceEnded.RETURNED: "returned",
    pb.SourceEnded.USER_ERROR: "user_error",
    pb.SourceEnded.CRASH: "crash",
    pb.SourceEnded.INVALID_INPUT: "invalid_input",
    pb.SourceEnded.TRANSFER_ERROR: "transfer_error",
}
_IO_TYPES = {
    IoType.STRING: pb.IoDefinition.STRING,
    IoType.LONGSTRING: pb.IoDefinition.LONGSTRING,
    IoType.PASSWORD: pb.IoDefinition.PASSWORD,
    IoType.INTEGER: pb.IoDefinition.INTEGER,
    IoType.FLOAT: pb.IoDefinition.FLOAT,
    IoType.BOOLEAN: pb.IoDefinition.BOOLEAN,
    IoType.ENUM: pb.IoDefinition.ENUM,
    IoType.FILE: pb.IoDefinition.FILE,
    IoType.DIRECTORY: pb.IoDefinition.DIRECTORY,
}


def value_to_pb(value: SiteValue) -> pb.Value:
    v = value.value
    if v is None:
        return pb.Value(null_value="NULL_VALUE")
    if isinstance(v, RemoteFile):
        file = pb.File(url=v.url, name=v.name)
        return pb.Value(directory=file) if value.type is IoType.DIRECTORY else pb.Value(file=file)
    if value.type is IoType.BOOLEAN:
        return pb.Value(boolean_value=bool(v))
    if value.type is IoType.INTEGER:
        return pb.Value(integer_value=int(v))
    if value.type is IoType.FLOAT:
        return pb.Value(float_value=float(v))
    return pb.Value(string_value=str(v))


def request_to_pb(request: ExecutionRequest) -> pb.ExecuteRequest:
    return pb.ExecuteRequest(
        execution_id=request.execution_id,
        inputs={name: value_to_pb(v) for name, v in request.inputs.items()},
        output_uploads={
            name: pb.OutputUpload(put_urls=list(urls))
            for name, urls in request.output_uploads.items()
        },
        timeout_seconds=request.timeout_seconds,
    )


def io_to_pb(spec: IoSpec) -> pb.IoDefinition:
    return pb.IoDefinition(
        name=spec.name,
        human_name=spec.human_name,
        help=spec.help,
        type=_IO_TYPES[spec.type],
        optional=spec.optional,
        enum_values=list(spec.enum_values),
    )


def source_request_to_pb(request: SourceRequest) -> pb.RunRequest:
    return pb.RunRequest(
        run_id=request.run_id,
        inputs={name: value_to_pb(v) for name, v in request.inputs.items()},
        dynamic_outputs=[io_to_pb(o) for o in request.outputs],
    )


def _error(error: pb.Error) -> ExecutionError:
    return ExecutionError(
        message=error.message,
        type=error.type,
        code=error.code if error.HasField("code") else None,
        traceback=error.traceback,
    )


def _line(line: pb.LogLine) -> LogLine:
    return LogLine(
        time=line.time.ToDatetime(tzinfo=UTC) if line.HasField("time") else datetime.now(UTC),
        stream=_STREAMS.get(line.stream, "stdout"),
        text=line.text,
        level=line.level,
    )


def source_event_from_pb(event: pb.RunEvent, *, replica: str) -> SourceEvent | None:
    """None for an event of a kind this runner does not know (a newer wrapper)."""
    kind = event.WhichOneof("event")
    if kind == "run_created":
        values = event.run_created.values.values
        return SourceRunCreated(
            values={name: value_from_pb(v) for name, v in values.items()}, replica=replica
        )
    if kind == "run_error":
        failed = event.run_error
        return SourceRunFailed(
            message=failed.message, code=failed.code if failed.HasField("code") else None
        )
    if kind == "logs":
        return SourceLogs(lines=[_line(line) for line in event.logs.lines])
    if kind == "ended":
        ended = event.ended
        return SourceEnded(
            reason=_ENDED.get(ended.reason, "crash"),
            error=_error(ended.error) if ended.HasField("error") else None,
        )
    return None


def _file(file: pb.File, *, directory: bool) -> ProducedFile:
    return ProducedFile(
        name=file.name,
        size_bytes=file.size_bytes,
        sha256=file.sha256,
        directory=directory,
        url=file.url,
        staged_id=file.staged_id,
    )


def value_from_pb(value: pb.Value) -> object:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "file":
        return _file(value.file, directory=False)
    if kind == "directory":
        return _file(value.directory, directory=True)
    return getattr(value, kind)


def outcome_from_pb(response: pb.ExecuteResponse, *, replica: str) -> ExecutionOutcome:
    error = None
    if response.status != pb.ExecuteResponse.SUCCESS:
        error = _error(response.error)
    return ExecutionOutcome(
        status=_STATUS.get(response.status, ExecutionStatus.CRASH),
        replica=replica,
        output_sets=[
            {name: value_from_pb(v) for name, v in output_set.values.items()}
            for output_set in response.output_sets
        ],
        error=error,
        logs=[_line(line) for line in response.logs],
        logs_truncated=response.logs_truncated,
        duration_seconds=response.duration_seconds,
        handler_seconds=response.handler_seconds,
        replayed=response.replayed,
    )


def uploads_from_pb(response: pb.UploadFilesResponse) -> list[UploadResult]:
    return [
        UploadResult(
            staged_id=r.staged_id,
            uploaded=r.uploaded,
            error=r.error,
            size_bytes=r.size_bytes,
            sha256=r.sha256,
        )
        for r in response.results
    ]
