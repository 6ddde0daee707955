"""The FastAPI application factory."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from oryx_repository.infrastructure.api.deps import UseCases
from oryx_repository.infrastructure.api.errors import install_error_handlers
from oryx_repository.infrastructure.api.limits import BodySizeLimit
from oryx_repository.infrastructure.api.routes import PREFIX, router

DESCRIPTION = """\
Git sources of actions: add a repository, scan it (every action folder is found and
validated), build its actions, follow their status and build logs. Built actions are
announced to the studio.

Authenticate with `Authorization: Bearer <token>`; the project comes from `X-Oryx-Project`
(default: your current project). Errors answer `{"detail", "code", "field"}` with a 4xx status.
"""


def create_app(
    use_cases: UseCases,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Oryx repository",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.use_cases = use_cases
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    app.include_router(router)
    return app
