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
from oryx_runner.domain.workflows import IoType
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
        error = ExecutionError(
            message=response.error.message,
            type=response.error.type,
            code=response.error.code if response.error.HasField("code") else None,
            traceback=response.error.traceback,
        )
    return ExecutionOutcome(
        status=_STATUS.get(response.status, ExecutionStatus.CRASH),
        replica=replica,
        output_sets=[
            {name: value_from_pb(v) for name, v in output_set.values.items()}
            for output_set in response.output_sets
        ],
        error=error,
        logs=[
            LogLine(
                time=line.time.ToDatetime(tzinfo=UTC)
                if line.HasField("time")
                else datetime.now(UTC),
                stream=_STREAMS.get(line.stream, "stdout"),
                text=line.text,
                level=line.level,
            )
            for line in response.logs
        ],
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
