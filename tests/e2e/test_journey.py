"""The journey of a team through HTTP only, in both modes (embedded: `oryx up`; distributed:
the services as processes with PostgreSQL, RabbitMQ and SeaweedFS behind a front door).

The tests of this module run in order and share one platform and one build of the examples per
mode: each step starts where the previous one left off (`Journey` holds what they made).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml

from .platforms import ADMIN_PASSWORD, Platform

BUILD_TIMEOUT = 180.0
RUN_TIMEOUT = 60.0


class Api:
    """A client of one user; ``ok`` checks the status and returns the JSON body."""

    def __init__(self, base_url: str, token: str | None = None, project: str | None = None):
        # idle connections dropped before the server's 5 s keep-alive timeout closes them
        self.client = httpx.Client(
            base_url=base_url, timeout=60, limits=httpx.Limits(keepalive_expiry=2.0)
        )
        self.token = token
        self.project = project

    @property
    def headers(self) -> dict[str, str]:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.project:
            headers["X-Oryx-Project"] = self.project
        return headers

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    def anonymous(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call with no token at all, as a user API's callers make them."""
        return self.client.request(method, path, **kwargs)

    def wait(self, what: str, probe: Any, *, within: float = RUN_TIMEOUT) -> Any:
        """Call ``probe`` until it returns something true; return that."""
        deadline = time.monotonic() + within
        while True:
            value = probe()
            if value:
                return value
            assert time.monotonic() < deadline, f"{what}: still not done after {within:g} s"
            time.sleep(0.2)


def login(base_url: str, username: str, password: str) -> str:
    response = httpx.post(
        f"{base_url}/authorization/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@dataclass
class Journey:
    platform: Platform
    admin: Api
    dev: Api | None = None
    project: str = ""
    source: str = ""
    actions: dict[str, str] = field(default_factory=dict)  # name -> studio action id
    workflows: dict[str, str] = field(default_factory=dict)  # name -> workflow id
    runs: list[str] = field(default_factory=list)  # runs of the first project
    files: list[str] = field(default_factory=list)  # download paths of the first project
    second_project: str = ""
    other: Api | None = None

    @property
    def api(self) -> Api:
        assert self.dev is not None, "step 1 did not pass"
        return self.dev


@pytest.fixture(scope="module")
def journey(platform: Platform) -> Journey:
    admin = Api(platform.url, login(platform.url, "admin", ADMIN_PASSWORD))
    return Journey(platform=platform, admin=admin)


def wait_run(api: Api, run_id: str, *, within: float = RUN_TIMEOUT) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run: dict[str, Any] = api.ok("GET", f"/runner/runs/{run_id}")
        return run if run["status"] != "running" else None

    return api.wait(f"run {run_id}", finished, within=within)  # type: ignore[no-any-return]


def wait_deployment(api: Api, workflow_id: str, status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        deployment: dict[str, Any] = api.ok("GET", f"/studio/workflows/{workflow_id}")["deployment"]
        assert deployment["status"] != "error", deployment
        return deployment if deployment["status"] == status else None

    return api.wait(f"workflow {workflow_id} {status}", reached)  # type: ignore[no-any-return]


def wait_built(
    api: Api, source_id: str, names: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    def built() -> dict[str, dict[str, Any]] | None:
        items = api.ok("GET", "/repository/actions", params={"source_id": source_id, "limit": 50})
        actions = {a["name"]: a for a in items["items"] if names is None or a["name"] in names}
        failed = {n: a["status"] for n, a in actions.items() if a["status"] == "build_error"}
        assert not failed, f"builds failed: {failed}"
        return actions if all(a["status"] == "built" for a in actions.values()) else None

    return api.wait("the builds", built, within=BUILD_TIMEOUT)  # type: ignore[no-any-return]


def library(api: Api, names: set[str]) -> dict[str, str]:
    """Studio action ids by name, once every one of ``names`` is published in the library."""

    def published() -> dict[str, str] | None:
        items = api.ok("GET", "/studio/actions", params={"kind": "processor", "limit": 100})
        found = {a["name"]: a["id"] for a in items["items"]}
        return found if names <= set(found) else None

    return api.wait(f"{sorted(names)} in the library", published)  # type: ignore[no-any-return]


def add_steps(api: Api, workflow_id: str, action_ids: list[str]) -> list[str]:
    """The steps in a chain, each after the previous one; their step ids."""
    steps: list[str] = []
    for action_id in action_ids:
        body = {"action_id": action_id, **({"after_step_id": steps[-1]} if steps else {})}
        added = api.ok("POST", f"/studio/workflows/{workflow_id}/steps", 201, json=body)
        steps.append(added["step_id"])
    return steps


# -- 1. the admin, a project, a developer -------------------------------------------------


def test_1_admin_creates_a_project_and_a_developer(journey: Journey) -> None:
    admin = journey.admin
    project = admin.ok("POST", "/authorization/projects", 201, json={"name": "journey"})
    user = admin.ok(
        "POST",
        "/authorization/users",
        201,
        json={"username": "dev", "password": "dev-password-e2e", "role": "developer"},
    )
    admin.ok(
        "POST",
        f"/authorization/projects/{project['id']}/members",
        201,
        json={"user_id": user["id"], "role": "developer"},
    )
    url = journey.platform.url
    journey.project = project["id"]
    journey.dev = Api(url, login(url, "dev", "dev-password-e2e"), project["id"])
    me = journey.api.ok("GET", "/authorization/me")
    assert me["username"] == "dev"
    allowed = journey.api.ok(
        "GET", "/authorization/authorize", params={"permission": "workflow:deploy"}
    )
    assert allowed["allowed"] is True


# -- 2. the examples from Git: scan, build ------------------------------------------------


def test_2_add_the_examples_scan_and_build_them(journey: Journey, examples_url: str) -> None:
    api = journey.api
    source = api.ok(
        "POST", "/repository/sources", 201, json={"name": "examples", "url": examples_url}
    )
    journey.source = source["id"]
    scan = api.ok("POST", f"/repository/sources/{source['id']}/scan")
    assert scan["status"] == "ok", scan
    scanned = {a["name"]: a for a in scan["actions"]}
    assert set(scanned) >= {"echo", "sleep", "file-transform", "not-found"}
    assert all(not a.get("scan_errors") for a in scanned.values()), scanned
    api.ok("POST", f"/repository/sources/{source['id']}/build")
    built = wait_built(api, source["id"])
    assert set(built) == set(scanned)
    assert all(a["artifact_ref"] for a in built.values())
    journey.actions = library(api, {"echo", "sleep", "file-transform", "not-found"})


# -- 3. workflows: compose, read the errors, fix them, deploy -----------------------------


def test_3_compose_fix_and_deploy_workflows(journey: Journey) -> None:
    api, actions = journey.api, journey.actions
    workflow = api.ok("POST", "/studio/workflows", 201, json={"name": "greet"})
    w = workflow["id"]
    base = f"/studio/workflows/{w}"
    trigger, echo, transform = add_steps(
        api, w, ["builtin-http-api", actions["echo"], actions["file-transform"]]
    )
    api.ok(
        "PUT",
        f"{base}/steps/{trigger}",
        json={
            "dynamic_outputs": [
                {"name": "name", "type": "string", "origin": "path"},
                {"name": "doc", "type": "file", "origin": "body"},
            ]
        },
    )

    errors = api.ok("GET", f"{base}/errors")
    assert errors["valid"] is False
    assert {(e["code"], e["step_id"], e["field"]) for e in errors["errors"]} == {
        ("endpoint_missing", trigger, "endpoint"),
        ("required_input_missing", transform, "inputs.text_file"),
    }
    refused = api.call("POST", f"{base}/deploy")
    assert refused.status_code == 409 and refused.json()["code"] == "workflow_invalid"

    wrong = api.call("PUT", f"{base}/steps/{echo}/inputs/count", json={"value": "seven"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "type_mismatch", wrong.text
    mismatch = api.call(
        "PUT", f"{base}/endpoint",
        json={"path": "greet/{who}", "method": "POST", "success_code": 200, "timeout_seconds": 30},
    )  # fmt: skip
    assert mismatch.status_code == 200, mismatch.text  # kept, but it is an error to fix
    assert {(e["code"], e["field"]) for e in mismatch.json()["errors"]} == {
        ("required_input_missing", "inputs.text_file"),
        ("endpoint_path_mismatch", "endpoint.path"),
    }

    # static values, links to upstream outputs, the results, the endpoint
    api.ok("PUT", f"{base}/steps/{echo}/inputs/count", json={"value": 7})
    api.ok(
        "PUT",
        f"{base}/steps/{echo}/inputs/text",
        json={"from": {"step_id": trigger, "output": "name"}},
    )
    api.ok("PUT", f"{base}/steps/{transform}/inputs/mode", json={"value": "upper"})
    api.ok(
        "PUT", f"{base}/steps/{transform}/inputs/text_file",
        json={"from": {"step_id": trigger, "output": "doc"}},
    )  # fmt: skip
    api.ok(
        "PUT", f"{base}/results",
        json=[
            {"key": "greeting", "from": {"step_id": echo, "output": "text"}},
            {"key": "count", "from": {"step_id": echo, "output": "count"}},
            {"key": "lines", "from": {"step_id": transform, "output": "lines"}},
            {"key": "file", "from": {"step_id": transform, "output": "result"}},
        ],
    )  # fmt: skip
    fixed = api.ok(
        "PUT", f"{base}/endpoint",
        json={"path": "greet/{name}", "method": "POST", "success_code": 200, "timeout_seconds": 30},
    )  # fmt: skip
    assert fixed["valid"] is True and fixed["errors"] == []
    assert api.ok("POST", f"{base}/deploy", 202)["deployment"]["status"] == "deploying"
    journey.workflows["greet"] = w

    # slow: three sleeps of 1 s behind an endpoint that waits 1 s for its result
    slow = api.ok("POST", "/studio/workflows", 201, json={"name": "slow"})["id"]
    trigger, *sleeps = add_steps(api, slow, ["builtin-http-api", *[actions["sleep"]] * 3])
    assert sleeps == ["sleep", "sleep-2", "sleep-3"]
    for step in sleeps:
        api.ok("PUT", f"/studio/workflows/{slow}/steps/{step}/inputs/seconds", json={"value": 1.0})
    api.ok(
        "PUT", f"/studio/workflows/{slow}/results",
        json=[{"key": "slept", "from": {"step_id": "sleep-3", "output": "slept"}}],
    )  # fmt: skip
    api.ok(
        "PUT", f"/studio/workflows/{slow}/endpoint",
        json={"path": "slow", "method": "GET", "success_code": 200, "timeout_seconds": 1},
    )  # fmt: skip
    api.ok("POST", f"/studio/workflows/{slow}/deploy", 202)
    journey.workflows["slow"] = slow

    # find: a step that raises RyaxException(code=404)
    find = api.ok("POST", "/studio/workflows", 201, json={"name": "find"})["id"]
    trigger, lookup = add_steps(api, find, ["builtin-http-api", actions["not-found"]])
    api.ok(
        "PUT", f"/studio/workflows/{find}/steps/{trigger}",
        json={"dynamic_outputs": [{"name": "query", "type": "string", "origin": "query"}]},
    )  # fmt: skip
    api.ok(
        "PUT", f"/studio/workflows/{find}/steps/{lookup}/inputs/query",
        json={"from": {"step_id": trigger, "output": "query"}},
    )  # fmt: skip
    api.ok(
        "PUT", f"/studio/workflows/{find}/endpoint",
        json={"path": "find", "method": "GET", "success_code": 200, "timeout_seconds": 10},
    )  # fmt: skip
    api.ok("POST", f"/studio/workflows/{find}/deploy", 202)
    journey.workflows["find"] = find

    for workflow_id in journey.workflows.values():
        wait_deployment(api, workflow_id, "deployed")
        runner_view = api.ok("GET", f"/runner/deployments/{workflow_id}")
        assert runner_view["status"] == "deployed"


# -- 4.-6. the user APIs ------------------------------------------------------------------


def test_4_the_endpoint_answers_with_the_result(journey: Journey) -> None:
    api = journey.api
    response = api.anonymous(  # the project requires no API key
        "POST",
        f"/runner/api/{journey.project}/greet/alice",
        files={"doc": ("notes.txt", b"one\ntwo\n", "text/plain")},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["greeting"] == "alice" and result["count"] == 7 and result["lines"] == 2
    assert result["file"]["name"] == "notes-upper.txt"
    download = result["file"]["download_url"]
    assert download.startswith("/runner/files/")
    # the caller of an open endpoint downloads it as it called: without credentials
    assert api.anonymous("GET", download).content == b"ONE\nTWO\n"
    assert response.headers["X-Oryx-Run-Id"] in api.ok("GET", "/runner/runs")["items"][0]["id"]
    journey.files.append(download)

    bad = api.anonymous("POST", f"/runner/api/{journey.project}/greet/alice", json={})
    assert bad.status_code == 422 and "body.doc" in bad.text, bad.text


def test_5_a_slow_endpoint_answers_202_then_the_result_link(journey: Journey) -> None:
    api = journey.api
    response = api.anonymous("GET", f"/runner/api/{journey.project}/slow")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["result_link"] == f"/runner/results/{accepted['workflow_run_id']}"
    journey.runs.append(accepted["workflow_run_id"])
    early = api.call("GET", accepted["result_link"])
    assert early.status_code == 202, early.text

    def done() -> dict[str, Any] | None:
        answer = api.call("GET", accepted["result_link"])
        assert answer.status_code in (200, 202), answer.text
        return answer.json() if answer.status_code == 200 else None

    final = api.wait("the slow result", done)
    assert final["status"] == "succeeded" and final["result"]["slept"] >= 1.0


def test_6_a_step_raising_404_makes_the_endpoint_answer_404(journey: Journey) -> None:
    api = journey.api
    response = api.anonymous(
        "GET", f"/runner/api/{journey.project}/find", params={"query": "treasure"}
    )
    assert response.status_code == 404, response.text
    body = response.json()
    assert "nothing found for 'treasure'" in body["detail"]
    assert body["workflow_run_id"]
    missing = api.anonymous("GET", f"/runner/api/{journey.project}/find")
    assert missing.status_code == 422 and "query.query" in missing.text, missing.text


# -- 7. a manual run with a file; its output file; its logs -------------------------------


def test_7_a_manual_run_with_a_file_its_output_and_logs(journey: Journey) -> None:
    api = journey.api
    started = api.ok(
        "POST",
        f"/runner/workflows/{journey.workflows['greet']}/runs",
        201,
        data={"name": "bob"},
        files={"doc": ("list.txt", b"x\ny\nz\n", "text/plain")},
    )
    run = wait_run(api, started["id"])
    journey.runs.append(run["id"])
    assert run["status"] == "succeeded", run["error"]
    assert run["result"]["greeting"] == "bob" and run["result"]["lines"] == 3
    output = run["result"]["file"]
    assert output["name"] == "list-upper.txt"
    download = api.call("GET", output["download_url"])
    assert download.status_code == 200 and download.content == b"X\nY\nZ\n"
    journey.files.append(output["download_url"])

    steps = {s["step_id"]: s for s in run["steps"]}
    assert steps["echo"]["inputs"]["count"] == 7
    logs = api.ok("GET", steps["file-transform"]["links"]["logs"])
    assert any("wrote list-upper.txt" in line["text"] for line in logs["lines"]), logs
    logs = api.ok("GET", steps["echo"]["links"]["logs"])
    assert any("echoing" in line["text"] for line in logs["lines"]), logs


# -- 8. a restart in the middle of a run --------------------------------------------------


def test_8_a_run_interrupted_by_a_restart_completes(journey: Journey) -> None:
    api = journey.api
    started = api.ok("POST", f"/runner/workflows/{journey.workflows['slow']}/runs", 201, json={})

    def first_sleep_running() -> bool:
        run = api.ok("GET", f"/runner/runs/{started['id']}")
        return any(s["step_id"] == "sleep" and s["status"] == "running" for s in run["steps"])

    api.wait("the first sleep running", first_sleep_running)
    journey.platform.stop()  # Ctrl-C, or `oryx down`: every process of it is gone
    stopped_at = datetime.now(UTC)
    journey.platform.start()

    run = wait_run(api, started["id"])
    journey.runs.append(run["id"])
    assert run["status"] == "succeeded", run["error"]
    steps = {s["step_id"]: s for s in run["steps"]}
    assert {steps[s]["status"] for s in ("sleep", "sleep-2", "sleep-3")} == {"succeeded"}
    # the platform stopped while the run was in its first steps; the rest ran once it was back
    assert datetime.fromisoformat(steps["sleep-3"]["started_at"]) > stopped_at
    # the step in flight finished within the stop's grace: never executed again
    assert steps["sleep"]["attempts"] == 1

    # what was deployed before is deployed again, and runs
    for workflow_id in journey.workflows.values():
        assert api.ok("GET", f"/runner/deployments/{workflow_id}")["status"] == "deployed"
    again = api.ok(
        "POST",
        f"/runner/workflows/{journey.workflows['greet']}/runs",
        201,
        data={"name": "carol"},
        files={"doc": ("c.txt", b"c\n", "text/plain")},
    )
    assert wait_run(api, again["id"])["status"] == "succeeded"
    # files of runs before the restart are still there
    for download in journey.files:
        assert api.call("GET", download).status_code == 200


# -- 9. undeploy, export, import into a second project ------------------------------------


def test_9_undeploy_export_and_import_into_a_second_project(
    journey: Journey, examples_url: str
) -> None:
    api, admin = journey.api, journey.admin
    greet = journey.workflows["greet"]
    api.ok("POST", f"/studio/workflows/{greet}/undeploy", 202, json={})
    wait_deployment(api, greet, "undeployed")
    gone = api.call("POST", f"/runner/api/{journey.project}/greet/x", files={"doc": ("a", b"a")})
    assert gone.status_code == 404, gone.text

    exported = api.call("GET", f"/studio/workflows/{greet}/export")
    assert exported.status_code == 200, exported.text
    document = yaml.safe_load(exported.text)
    assert document["kind"] == "Workflow"

    project = admin.ok("POST", "/authorization/projects", 201, json={"name": "elsewhere"})
    user = admin.ok(
        "POST",
        "/authorization/users",
        201,
        json={"username": "other", "password": "other-password-e2e", "role": "developer"},
    )
    admin.ok(
        "POST", f"/authorization/projects/{project['id']}/members", 201,
        json={"user_id": user["id"], "role": "developer"},
    )  # fmt: skip
    url = journey.platform.url
    other = Api(url, login(url, "other", "other-password-e2e"), project["id"])
    journey.other, journey.second_project = other, project["id"]

    yaml_body = {"headers": {"Content-Type": "application/yaml"}, "content": exported.content}
    missing = other.call("POST", "/studio/workflows/import", **yaml_body)
    assert missing.status_code == 422 and missing.json()["code"] == "missing_dependencies"
    assert {(m["name"], m["version"]) for m in missing.json()["missing"]} == {
        ("echo", "1.0"),
        ("file-transform", "1.0"),
    }

    # the second project builds the two actions it lacks from the same repository
    source = other.ok(
        "POST", "/repository/sources", 201, json={"name": "examples", "url": examples_url}
    )
    scan = other.ok("POST", f"/repository/sources/{source['id']}/scan")
    for action in scan["actions"]:
        if action["name"] in ("echo", "file-transform"):
            other.ok("POST", f"/repository/actions/{action['id']}/build")
    wait_built(other, source["id"], {"echo", "file-transform"})
    library(other, {"echo", "file-transform"})

    imported = other.ok("POST", "/studio/workflows/import", 201, **yaml_body)
    assert imported["project_id"] == project["id"] and imported["valid"] is True
    assert imported["name"] == "greet"


# -- 10. nothing of the first project shows in the second ---------------------------------


def test_10_a_user_of_the_second_project_sees_nothing_of_the_first(journey: Journey) -> None:
    other = journey.other
    assert other is not None, "step 9 did not pass"
    first = journey.project

    workflows = other.ok("GET", "/studio/workflows")["items"]
    assert [w["name"] for w in workflows] == ["greet"]
    assert all(w["project_id"] == journey.second_project for w in workflows)
    for workflow_id in journey.workflows.values():
        assert other.call("GET", f"/studio/workflows/{workflow_id}").status_code == 404
        assert other.call("GET", f"/runner/deployments/{workflow_id}").status_code == 404
        assert (
            other.call("POST", f"/runner/workflows/{workflow_id}/runs", json={}).status_code == 404
        )
    for action_id in journey.actions.values():
        assert other.call("GET", f"/studio/actions/{action_id}").status_code == 404
    assert other.call("GET", f"/repository/sources/{journey.source}").status_code == 404
    sources = other.ok("GET", "/repository/sources")["items"]
    assert journey.source not in {s["id"] for s in sources}

    runs = other.ok("GET", "/runner/runs")["items"]
    assert not {r["id"] for r in runs} & set(journey.runs)
    for run_id in journey.runs:
        assert other.call("GET", f"/runner/runs/{run_id}").status_code == 404
    for download in journey.files:
        assert other.call("GET", download).status_code == 404

    # asking for the first project by name is refused
    forced = other.call("GET", "/studio/workflows", headers={"X-Oryx-Project": first})
    assert forced.status_code in (403, 404), forced.text
    forced = other.call("GET", "/runner/runs", headers={"X-Oryx-Project": first})
    assert forced.status_code in (403, 404), forced.text
