"""Reading a call's values by origin, and the cached access check of the user APIs."""

from datetime import UTC, datetime

import pytest

from oryx_runner.application.api_keys import ApiAccess, ApiKeys
from oryx_runner.application.http_api import Call, Target, gather
from oryx_runner.application.runs import UploadedFile
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.errors import InvalidValue, NotAuthenticated
from oryx_runner.domain.workflows import (
    BuiltinTrigger,
    Endpoint,
    StepKind,
    StepSpec,
    WorkflowSnapshot,
)

from ...actions import io
from ...fakes import FakeClock, InMemoryDatabase, InMemoryUnitOfWork, SequentialIds

AT = datetime(2026, 1, 1, tzinfo=UTC)


def target(*outputs) -> Target:  # type: ignore[no-untyped-def]
    trigger = StepSpec(
        step_id="trigger", name="HTTP", action_id="builtin-http-api", action_name="http-api",
        action_version="1.0", kind=StepKind.SOURCE, builtin_trigger=BuiltinTrigger.HTTP_API.value,
        outputs=tuple(outputs),
    )  # fmt: skip
    endpoint = Endpoint(path="p/{id}", method="POST", success_code=200, timeout_seconds=1)
    deployment = Deployment(
        id="d", workflow_id="w", project_id="p", revision=1,
        snapshot=WorkflowSnapshot(name="w", steps=(trigger,), endpoint=endpoint),
        requested_by="u", requested_at=AT, received_at=AT,
    )  # fmt: skip
    return Target(deployment=deployment, endpoint=endpoint)


T = target(
    io("id", origin="path"),
    io("limit", "integer", origin="query"),
    io("x_trace", origin="header"),
    io("text", origin="body"),
    io("data", "file", origin="body", optional=True),
)


def test_values_come_from_their_origin() -> None:
    values, files = gather(
        T,
        Call(
            params={"id": "7"},
            query=[("limit", "3"), ("cache", "1")],
            headers={"x-trace": "abc"},
            body={"text": "hi"},
            files={"data": UploadedFile(name="f", data=b"x")},
        ),
    )
    assert values == {"id": "7", "limit": "3", "x_trace": "abc", "text": "hi"}
    assert list(files) == ["data"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (Call(query=[("limit", "1"), ("limit", "2")]), "query.limit"),
        (Call(body={"text": "a", "other": 1}), "body.other"),
        (Call(body={"data": "not a file"}), "body.data"),
        (Call(files={"text": UploadedFile(name="f", data=b"")}), "body.text"),
    ],
)
def test_values_given_wrong_name_their_field(call: Call, field: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        gather(T, call)
    assert refused.value.field == field


def test_a_body_is_ignored_by_an_endpoint_that_reads_none() -> None:
    values, _ = gather(target(io("q", origin="query")), Call(body={"anything": 1}))
    assert values == {}


async def test_access_is_cached_until_the_project_changes() -> None:
    db = InMemoryDatabase()
    clock = FakeClock()
    access = ApiAccess(uow=lambda: InMemoryUnitOfWork(db), clock=clock)
    keys = ApiKeys(
        uow=lambda: InMemoryUnitOfWork(db),
        clock=clock,
        ids=SequentialIds(),
        on_change=access.forget,
    )
    assert (await access.check(project_id="p", presented=None)).key_id is None
    key, secret = await keys.create(project_id="p", name="ci", created_by="u")
    await keys.set_settings(project_id="p", require_api_key=True)
    with pytest.raises(NotAuthenticated):
        await access.check(project_id="p", presented=None)
    with pytest.raises(NotAuthenticated):
        await access.check(project_id="p", presented="oryx_ak_" + "x" * 43)
    granted = await access.check(project_id="p", presented=secret)
    assert granted.key_id == key.id and granted.label == f"api-key:{key.id}"
    assert db.api_keys[key.id].last_used_at is not None
    with pytest.raises(NotAuthenticated):  # a key of p opens nothing else
        await access.check(project_id="q", presented=secret)
    await keys.delete(project_id="p", key_id=key.id)
    with pytest.raises(NotAuthenticated):
        await access.check(project_id="p", presented=secret)
