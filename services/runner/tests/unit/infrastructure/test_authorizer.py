"""The authorization client asks again once when the connection fails under it (a kept-alive
connection closed by the server at that moment), and says which failure it was otherwise."""

import httpx
import pytest

from oryx_runner.infrastructure.authorization.client import (
    AuthorizationUnavailable,
    HttpAuthorizer,
)

ANSWER = {
    "user_id": "u", "username": "ann", "role": "developer", "project_id": "p",
    "project_role": "developer", "allowed": True,
}  # fmt: skip


def authorizer(failures: int) -> tuple[HttpAuthorizer, list[int]]:
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= failures:
            raise httpx.ReadError("", request=request)
        return httpx.Response(200, json=ANSWER)

    return HttpAuthorizer("http://authz", transport=httpx.MockTransport(handle)), calls


async def test_a_failed_connection_is_tried_again_once() -> None:
    client, calls = authorizer(failures=1)
    caller = await client.authorize(token="t", permission="run:read", project="p")
    assert caller.allowed and caller.project_id == "p" and len(calls) == 2
    await client.close()


async def test_two_failures_make_it_unavailable_naming_the_failure() -> None:
    client, calls = authorizer(failures=2)
    with pytest.raises(AuthorizationUnavailable, match="ReadError"):
        await client.authorize(token="t", permission="run:read", project="p")
    assert len(calls) == 2
    await client.close()
