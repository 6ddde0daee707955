"""The studio API's routers, under /studio."""

from fastapi import APIRouter

from oryx_studio.infrastructure.api import actions, variables, workflows
from oryx_studio.infrastructure.api import schemas as s
from oryx_studio.infrastructure.api.common import PREFIX

health = APIRouter(prefix=PREFIX)


@health.get("/healthz", summary="Liveness", tags=["health"])
async def healthz() -> s.HealthOut:
    """Answers 200 as soon as the service serves requests."""
    return s.HealthOut(status="ok", service="studio")


ROUTERS = (health, actions.router, workflows.router, variables.router)
