"""The FastAPI application factory."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from oryx_authorization.infrastructure.api.deps import UseCases
from oryx_authorization.infrastructure.api.errors import install_error_handlers
from oryx_authorization.infrastructure.api.limits import BodySizeLimit
from oryx_authorization.infrastructure.api.routes import PREFIX, router

DESCRIPTION = """\
Users, projects, roles, login and personal API tokens of Oryx, and the permission check
(`GET /authorization/authorize`) that every other service asks before it acts.

Authenticate with `Authorization: Bearer <token>`: a token from `POST /authorization/login`
or a personal API token. Errors answer `{"detail", "code", "field"}` with a 4xx status.
"""


def create_app(
    use_cases: UseCases,
    *,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Oryx authorization",
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
