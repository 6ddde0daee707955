"""The FastAPI application factory."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from oryx_studio.infrastructure.api.common import PREFIX
from oryx_studio.infrastructure.api.deps import UseCases
from oryx_studio.infrastructure.api.errors import install_error_handlers
from oryx_studio.infrastructure.api.limits import BodySizeLimit
from oryx_studio.infrastructure.api.routes import ROUTERS

DESCRIPTION = """\
The studio: the action library (what the project's Git sources published, and the runner's
built-in triggers), workflows (one trigger, then steps linked into a DAG, with typed inputs),
their errors, deploy orders, import and export, and project variables.

Authenticate with `Authorization: Bearer <token>`; the project comes from `X-Oryx-Project`
(default: your current project). Errors answer `{"detail", "code", "field"}` with a 4xx status.
"""


def create_app(
    use_cases: UseCases,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Oryx studio",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.use_cases = use_cases
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, upload_limit=use_cases.max_file_bytes)
    for router in ROUTERS:
        app.include_router(router)
    return app
