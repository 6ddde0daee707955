"""The FastAPI application factory."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI

from oryx_runner.infrastructure.api.deps import UseCases
from oryx_runner.infrastructure.api.errors import install_error_handlers
from oryx_runner.infrastructure.api.limits import BodySizeLimit
from oryx_runner.infrastructure.api.routes import PREFIX, router
from oryx_runner.infrastructure.api.user_api import router as user_router

DESCRIPTION = """\
The runner executes deployed workflows durably: deployments, runs with their steps, inputs,
outputs, logs and files, live events, and results.

Authenticate with `Authorization: Bearer <token>`; the project comes from `X-Oryx-Project`
(default: your current project). The user APIs of deployed workflows (`/runner/api/...`) take
the project's API keys instead, when the project requires them. Errors answer
`{"detail", "code", "field"}` with a 4xx status.
"""


def create_app(
    use_cases: UseCases,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    files_router: APIRouter | None = None,
) -> FastAPI:
    """``files_router``: the local filestore's presigned URLs (``/runner/filestore/...``),
    mounted when the filestore is a local folder."""
    app = FastAPI(
        title="Oryx runner",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.use_cases = use_cases
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        overrides=[
            (rf"{PREFIX}/workflows/[^/]+/runs", use_cases.max_upload_bytes + 64 * 1024),
            (rf"{PREFIX}/filestore/.*", None),
            (rf"{PREFIX}/api/.*", use_cases.max_upload_bytes + 64 * 1024),
        ],
    )
    app.include_router(router)
    app.include_router(user_router)
    if files_router is not None:
        app.include_router(files_router, prefix=PREFIX)
    return app
