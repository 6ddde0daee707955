"""The issue's "done when", through the API alone: find a built action, compose a workflow from
a trigger and two steps with typed inputs and links, see and fix its errors, deploy it (the
snapshot leaves on the broker), export it and import it into another project."""

from typing import Any

import yaml

from oryx_studio.infrastructure.messaging.broker import ReceivedMessage
from oryx_studio.infrastructure.messaging.generated.studio.v1 import deployments_pb2

from .conftest import io


async def listen(api, queue: str) -> list[ReceivedMessage]:  # type: ignore[no-untyped-def]
    """Collect what the studio publishes on its exchange."""
    seen: list[ReceivedMessage] = []

    async def handler(message: ReceivedMessage) -> None:
        seen.append(message)

    await api.container.broker().consume(
        queue=queue, exchange="oryx.studio", routing_keys=["studio.#"], handler=handler
    )
    return seen


async def test_compose_fix_deploy_export_import(api) -> None:  # type: ignore[no-untyped-def]
    orders = await listen(api, "test.journey")
    await api.publish(
        "shout",
        inputs=[
            io("text"),
            io("times", "integer", default=1),
            io("style", "enum", enum_values=["loud", "quiet"]),
        ],
        outputs=[io("text"), io("length", "integer")],
    )
    await api.publish("store", kind="publisher", inputs=[io("text"), io("count", "float")])

    # find the actions: a built-in trigger and two built actions
    triggers = await api.ok("GET", "/studio/actions", params={"kind": "source"})
    assert {a["name"] for a in triggers["items"]} >= {"http-api", "cron", "emit-every"}
    found = await api.ok("GET", "/studio/actions", params={"search": "sho"})
    (shout,) = found["items"]
    assert shout["latest"]["inputs"][1]["default_value"] == 1
    store = (await api.ok("GET", "/studio/actions", params={"kind": "publisher"}))["items"][0]

    # compose: cron -> shout -> store
    w = await api.ok("POST", "/studio/workflows", 201, json={"name": "Nightly shout"})
    base = f"/studio/workflows/{w['id']}"
    cron = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": "builtin-cron"}))[
        "step_id"
    ]
    s1 = (
        await api.ok(
            "POST",
            f"{base}/steps",
            201,
            json={"action_id": shout["id"], "position": {"x": 200, "y": 0}},
        )
    )["step_id"]
    s2 = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": store["id"]}))["step_id"]
    linked = await api.ok(
        "PUT",
        f"{base}/links",
        json=[{"from_step_id": cron, "to_step_id": s1}, {"from_step_id": s1, "to_step_id": s2}],
    )
    assert {(k["from_step_id"], k["to_step_id"]) for k in linked["links"]} == {
        (cron, s1),
        (s1, s2),
    }

    # see its errors
    errors = await api.ok("GET", f"{base}/errors")
    assert errors["valid"] is False
    assert sorted((e["code"], e["step_id"], e["field"]) for e in errors["errors"]) == [
        ("required_input_missing", cron, "inputs.cron"),
        ("required_input_missing", s1, "inputs.style"),
        ("required_input_missing", s1, "inputs.text"),
        ("required_input_missing", s2, "inputs.count"),
        ("required_input_missing", s2, "inputs.text"),
    ]
    refused = await api.client.post(f"{base}/deploy", headers=api.dev)
    assert refused.status_code == 409
    assert refused.json()["code"] == "workflow_invalid"
    assert len(refused.json()["errors"]) == 5

    # fix them: typed static values, references to upstream outputs
    def put_input(step: str, name: str, body: dict[str, Any]) -> Any:
        return api.ok("PUT", f"{base}/steps/{step}/inputs/{name}", json=body)

    wrong = await api.client.put(
        f"{base}/steps/{s1}/inputs/style", headers=api.dev, json={"value": "shouty"}
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "type_mismatch"
    await put_input(cron, "cron", {"value": "0 3 * * *"})
    await put_input(s1, "style", {"value": "loud"})
    await put_input(s1, "text", {"from": {"step_id": cron, "output": "fired_at"}})
    await put_input(s2, "text", {"from": {"step_id": s1, "output": "text"}})
    mismatch = await api.client.put(
        f"{base}/steps/{s2}/inputs/text",
        headers=api.dev,
        json={"from": {"step_id": s1, "output": "length"}},
    )
    assert mismatch.status_code == 422 and mismatch.json()["code"] == "type_mismatch"
    fixed = await put_input(s2, "count", {"from": {"step_id": s1, "output": "length"}})
    assert fixed["valid"] is True and fixed["errors"] == []
    await api.ok(
        "PUT",
        f"{base}/results",
        json=[{"key": "shouted", "from": {"step_id": s1, "output": "text"}}],
    )

    # deploy: the snapshot reaches the broker
    deployed = await api.ok("POST", f"{base}/deploy", 202)
    assert deployed["deployment"]["status"] == "deploying"
    await api.container.relay().publish_pending()
    await api.container.broker().join()
    (order,) = [m for m in orders if m.routing_key == "studio.deployment.requested.v1"]
    request = deployments_pb2.DeploymentRequested.FromString(order.body)
    assert request.workflow_id == w["id"] and request.revision == deployed["revision"]
    assert [s.step_id for s in request.snapshot.steps] == [cron, s1, s2]
    assert request.snapshot.steps[0].builtin_trigger == "cron"
    bindings = {b.input: b for b in request.snapshot.steps[0].bindings}
    assert bindings["cron"].value.string_value == "0 3 * * *"
    assert bindings["timezone"].value.string_value == "UTC"
    assert request.snapshot.results[0].key == "shouted"

    # export it, import it into another project that holds the same actions
    exported = await api.client.get(f"{base}/export", headers=api.dev)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(exported.text)
    assert document["apiVersion"] == "oryx.dev/v1" and document["kind"] == "Workflow"
    other = api.headers("outsider")
    missing = await api.client.post(
        "/studio/workflows/import",
        headers={**other, "Content-Type": "application/yaml"},
        content=exported.content,
    )
    assert missing.status_code == 422 and missing.json()["code"] == "missing_dependencies"
    assert sorted((m["kind"], m["name"], m["version"]) for m in missing.json()["missing"]) == [
        ("action", "shout", "1.0"),
        ("action", "store", "1.0"),
    ]
    await api.publish(
        "shout",
        project=api.p2,
        inputs=[
            io("text"),
            io("times", "integer", default=1),
            io("style", "enum", enum_values=["loud", "quiet"]),
        ],
        outputs=[io("text"), io("length", "integer")],
    )
    await api.publish(
        "store", project=api.p2, kind="publisher", inputs=[io("text"), io("count", "float")]
    )
    imported = await api.ok(
        "POST",
        "/studio/workflows/import",
        201,
        headers={**other, "Content-Type": "application/yaml"},
        content=exported.content,
    )
    assert imported["project_id"] == api.p2 and imported["valid"] is True
    again = await api.client.get(f"/studio/workflows/{imported['id']}/export", headers=other)
    assert yaml.safe_load(again.text) == document
