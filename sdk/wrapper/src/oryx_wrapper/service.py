"""The gRPC service `oryx.action_wrapper.v1.ActionWrapper`: protobuf in, protobuf out.

Protobuf messages stop here: the rest of the wrapper speaks plain Python values.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import shutil
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, cast

import grpc

from .capture import LOGGING, STDERR, STDOUT, WRAPPER, LogRecord
from .errors import ErrorInfo
from .execution import ExecutionRequest, ExecutionResult, Executor, Status, download_inputs
from .generated.action_wrapper.v1 import wrapper_pb2 as pb
from .generated.action_wrapper.v1 import wrapper_pb2_grpc as pb_grpc
from .metadata import ActionMetadata, IoDefinition, IoType, Kind
from .pool import WorkerPool
from .protocol import CRASH, RETURNED, USER_ERROR, LogLines, RunFailed, RunMade
from .source import SourceRun
from .staging import Staging
from .transfer import TransferError, upload
from .values import InvalidValues, RemoteFile, StoredFile, check_inputs

_STATUS = {
    Status.SUCCESS: pb.ExecuteResponse.SUCCESS,
    Status.USER_ERROR: pb.ExecuteResponse.USER_ERROR,
    Status.TIMEOUT: pb.ExecuteResponse.TIMEOUT,
    Status.CRASH: pb.ExecuteResponse.CRASH,
    Status.INVALID_INPUT: pb.ExecuteResponse.INVALID_INPUT,
    Status.INVALID_OUTPUT: pb.ExecuteResponse.INVALID_OUTPUT,
    Status.TRANSFER_ERROR: pb.ExecuteResponse.TRANSFER_ERROR,
}
_KIND = {
    Kind.PROCESSOR: pb.DescribeResponse.PROCESSOR,
    Kind.PUBLISHER: pb.DescribeResponse.PUBLISHER,
    Kind.SOURCE: pb.DescribeResponse.SOURCE,
}
_TYPE: dict[IoType, pb.IoDefinition.Type] = {
    io_type: cast(pb.IoDefinition.Type, pb.IoDefinition.Type.Value(io_type.name))
    for io_type in IoType
}
_TYPE_BACK = {number: io_type for io_type, number in _TYPE.items()}
_STREAM = {
    STDOUT: pb.LogLine.STDOUT,
    STDERR: pb.LogLine.STDERR,
    LOGGING: pb.LogLine.LOGGING,
    WRAPPER: pb.LogLine.WRAPPER,
}
_ENDED = {
    RETURNED: pb.SourceEnded.RETURNED,
    USER_ERROR: pb.SourceEnded.USER_ERROR,
    CRASH: pb.SourceEnded.CRASH,
}


@functools.cache
def wrapper_version() -> str:
    try:
        return package_version("oryx-wrapper")
    except PackageNotFoundError:  # pragma: no cover (running from a source tree)
        return "0+unknown"


# --- protobuf -> Python ----------------------------------------------------------------------


def value_from_pb(value: pb.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind in ("file", "directory"):
        file = value.file if kind == "file" else value.directory
        return RemoteFile(url=file.url, name=file.name, directory=kind == "directory")
    return getattr(value, kind)


def io_from_pb(definition: pb.IoDefinition) -> IoDefinition:
    io_type = _TYPE_BACK.get(definition.type)
    if io_type is None:
        raise ValueError(f"output {definition.name!r} has no type")
    has_default = definition.HasField("default_value")
    return IoDefinition(
        name=definition.name,
        type=io_type,
        human_name=definition.human_name,
        help=definition.help,
        optional=definition.optional,
        enum_values=tuple(definition.enum_values),
        has_default=has_default,
        default=value_from_pb(definition.default_value) if has_default else None,
    )


# --- Python -> protobuf ----------------------------------------------------------------------


def value_to_pb(value: Any) -> pb.Value:
    if value is None:
        return pb.Value(null_value="NULL_VALUE")
    if isinstance(value, StoredFile):
        file = pb.File(
            url=value.url,
            name=value.name,
            size_bytes=value.size,
            staged_id=value.staged_id,
            sha256=value.sha256,
        )
        return pb.Value(directory=file) if value.directory else pb.Value(file=file)
    if isinstance(value, bool):
        return pb.Value(boolean_value=value)
    if isinstance(value, int):
        return pb.Value(integer_value=value)
    if isinstance(value, float):
        return pb.Value(float_value=value)
    return pb.Value(string_value=str(value))


def io_to_pb(definition: IoDefinition) -> pb.IoDefinition:
    message = pb.IoDefinition(
        name=definition.name,
        human_name=definition.human_name,
        help=definition.help,
        type=_TYPE[definition.type],
        optional=definition.optional,
        enum_values=list(definition.enum_values),
    )
    if definition.has_default:
        message.default_value.CopyFrom(value_to_pb(definition.default))
    return message


def log_to_pb(record: LogRecord) -> pb.LogLine:
    stream = _STREAM.get(record.stream, pb.LogLine.STDOUT)
    line = pb.LogLine(stream=stream, text=record.text, level=record.level)
    seconds = int(record.time)
    line.time.seconds = seconds
    line.time.nanos = int((record.time - seconds) * 1e9)
    return line


def error_to_pb(error: ErrorInfo) -> pb.Error:
    message = pb.Error(message=error.message, type=error.type, traceback=error.traceback)
    if error.code is not None:
        message.code = error.code
    return message


def result_to_pb(result: ExecutionResult) -> pb.ExecuteResponse:
    response = pb.ExecuteResponse(
        execution_id=result.execution_id,
        status=_STATUS[result.status],
        logs=[log_to_pb(record) for record in result.logs],
        logs_truncated=result.logs_truncated,
        duration_seconds=result.duration,
        handler_seconds=result.handler_seconds,
        replayed=result.replayed,
    )
    for values in result.output_sets:
        output_set = response.output_sets.add()
        for name, value in values.items():
            output_set.values[name].CopyFrom(value_to_pb(value))
    if result.error is not None:
        response.error.CopyFrom(error_to_pb(result.error))
    return response


class ActionWrapperService(pb_grpc.ActionWrapperServicer):
    def __init__(
        self,
        *,
        metadata: ActionMetadata,
        action_dir: Path,
        pool: WorkerPool,
        executor: Executor,
        staging: Staging,
        workroot: Path,
        transfer_timeout: float = 300.0,
    ) -> None:
        self.metadata = metadata
        self.action_dir = action_dir
        self.pool = pool
        self.executor = executor
        self.staging = staging
        self.workroot = workroot
        self.transfer_timeout = transfer_timeout

    async def Describe(
        self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.DescribeResponse:
        metadata = self.metadata
        load_error = self.pool.load_error
        return pb.DescribeResponse(
            id=metadata.id,
            version=metadata.version,
            kind=_KIND[metadata.kind],
            human_name=metadata.human_name,
            description=metadata.description,
            inputs=[io_to_pb(d) for d in metadata.inputs],
            outputs=[io_to_pb(d) for d in metadata.outputs],
            dynamic_outputs=metadata.dynamic_outputs,
            time_limit_seconds=metadata.time_limit or 0.0,
            workers=0 if metadata.kind.is_source else self.pool.size,
            load_error=load_error.message if load_error else "",
            wrapper_version=wrapper_version(),
            metadata_file=metadata.metadata_file,
        )

    async def Execute(
        self, request: pb.ExecuteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ExecuteResponse:
        if self.metadata.kind.is_source:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{self.metadata.id} is a source: call Run, not Execute",
            )
        if request.timeout_seconds < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "timeout_seconds is negative")
        execution = ExecutionRequest(
            execution_id=request.execution_id,
            inputs={name: value_from_pb(v) for name, v in request.inputs.items()},
            uploads={name: list(u.put_urls) for name, u in request.output_uploads.items()},
            timeout=request.timeout_seconds or None,
        )
        return result_to_pb(await self.executor.execute(execution))

    def _event(self, sequence: int, **fields: Any) -> pb.RunEvent:
        event = pb.RunEvent(sequence=sequence, **fields)
        event.time.GetCurrentTime()
        return event

    async def Run(
        self, request: pb.RunRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.RunEvent]:
        if not self.metadata.kind.is_source:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{self.metadata.id} is a {self.metadata.kind.value}: call Execute, not Run",
            )
        try:
            dynamic = [io_from_pb(d) for d in request.dynamic_outputs]
        except ValueError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        sequence = 0

        def ended(reason: int, error: ErrorInfo | None) -> pb.RunEvent:
            message = pb.SourceEnded(reason=reason)  # type: ignore[arg-type]
            if error is not None:
                message.error.CopyFrom(error_to_pb(error))
            return self._event(sequence + 1, ended=message)

        given = {name: value_from_pb(v) for name, v in request.inputs.items()}
        try:
            inputs = check_inputs(self.metadata.inputs, given)
        except InvalidValues as invalid:
            problem = ErrorInfo(message="; ".join(invalid.problems), type="InvalidInput")
            yield ended(pb.SourceEnded.INVALID_INPUT, problem)
            return
        workdir = self.workroot / f"source-{secrets.token_hex(6)}"
        workdir.mkdir(parents=True)
        try:
            try:
                local = await download_inputs(
                    inputs, workdir, transfer_timeout=self.transfer_timeout
                )
            except TransferError as failure:
                problem = ErrorInfo(message=str(failure), type="TransferError")
                yield ended(pb.SourceEnded.TRANSFER_ERROR, problem)
                return
            source = SourceRun(
                metadata=self.metadata,
                action_dir=self.action_dir,
                staging=self.staging,
                inputs=local,
                dynamic_outputs=dynamic,
                startup_timeout=self.pool.startup_timeout,
            )
            async for message in source.messages():
                if isinstance(message, RunMade):
                    created = pb.RunCreated(running_time_seconds=message.running_time)
                    for name, value in message.values.items():
                        created.values.values[name].CopyFrom(value_to_pb(value))
                    sequence += 1
                    yield self._event(sequence, run_created=created)
                elif isinstance(message, RunFailed):
                    failed = pb.RunError(message=message.message)
                    if message.code is not None:
                        failed.code = message.code
                    sequence += 1
                    yield self._event(sequence, run_error=failed)
                elif isinstance(message, LogLines):
                    logs = pb.RunLogs(lines=[log_to_pb(record) for record in message.lines])
                    sequence += 1
                    yield self._event(sequence, logs=logs)
                else:
                    yield ended(_ENDED.get(message.reason, pb.SourceEnded.CRASH), message.error)
                    return
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def UploadFiles(
        self, request: pb.UploadFilesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UploadFilesResponse:
        async def one(item: pb.FileUpload) -> pb.FileUploadResult:
            staged = self.staging.get(item.staged_id)
            if staged is None:
                return pb.FileUploadResult(
                    staged_id=item.staged_id, error="unknown or expired staged_id"
                )
            try:
                stored = await asyncio.to_thread(
                    upload, staged.path, item.put_url, timeout=self.transfer_timeout
                )
            except TransferError as error:
                return pb.FileUploadResult(staged_id=item.staged_id, error=str(error))
            self.staging.forget(item.staged_id)
            return pb.FileUploadResult(
                staged_id=item.staged_id,
                uploaded=True,
                size_bytes=stored.size,
                sha256=stored.sha256,
            )

        results = await asyncio.gather(*(one(item) for item in request.uploads))
        return pb.UploadFilesResponse(results=results)
