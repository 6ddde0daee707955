"""A deleted project takes its sources, actions and stored archives with it."""

import uuid

from oryx_repository.infrastructure.messaging.generated.authorization.v1 import events_pb2

from .conftest import make_repository


async def test_project_deleted_event_cleans_up(api, tmp_path) -> None:
    url = make_repository(tmp_path / "examples")
    source = (
        await api.client.post(
            "/repository/sources", headers=api.developer, json={"name": "ex", "url": url}
        )
    ).json()
    scan = await api.client.post(f"/repository/sources/{source['id']}/scan", headers=api.developer)
    assert scan.json()["status"] == "ok"
    files = tmp_path / "files" / "objects" / "projects" / api.project_id
    assert any(files.rglob("*.tar.gz"))

    broker = api.container.broker()
    event = events_pb2.ProjectDeleted(project_id=api.project_id, name="gone")
    for _ in range(2):  # delivered twice: applied once, harmless the second time
        await broker.publish(
            exchange="oryx.authorization",
            routing_key="authorization.project.deleted.v1",
            message_id=str(uuid.uuid4()),
            message_type="oryx.authorization.v1.ProjectDeleted",
            body=event.SerializeToString(),
        )
    await broker.join()

    # the project still exists in the authorization service, so the routes answer: empty
    listed = await api.client.get("/repository/sources", headers=api.developer)
    assert listed.json()["total"] == 0
    actions = await api.client.get("/repository/actions", headers=api.developer)
    assert actions.json()["total"] == 0
    assert not any(files.rglob("*.tar.gz"))
