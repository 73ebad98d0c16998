"""FastAPI app factory for a service: ``/livez``, ``/readyz``, ``/metrics``, ``/status`` + its own routes.

``/livez`` only says the process and its event loop answer (it never checks dependencies);
``/readyz`` runs every readiness check and answers 503 with the JSON of each when one fails.

Operator endpoints (every method but GET and HEAD: risk's ``/halt`` and ``/resume``, any future admin
endpoint) pass :class:`OperatorAuth` first, for every service, in this order:
1. a request carrying an ``Origin`` other than the service's own (``http://<Host>``) → 403, so a
   browser's cross-origin "simple" POST can never halt or resume us (there is no CORS middleware);
2. no ``KMM_ADMIN_TOKEN_FILE`` configured → 403 "operator endpoints disabled";
3. ``Authorization: Bearer <token>`` missing or wrong (``hmac.compare_digest``) → 401.
The token is read once at start and never logged.
"""

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .service import Service

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD"})
DISABLED = "operator endpoints disabled: set KMM_ADMIN_TOKEN_FILE"


class OperatorAuth:
    """ASGI middleware: bearer token and same-origin for every non-GET/HEAD request."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token.encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, detail = refusal
        log.warning("refused %s %s: %s", scope["method"], scope["path"], detail)
        extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await JSONResponse({"detail": detail}, status_code=status, headers=extra)(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        origin = headers.get("origin")
        if origin is not None:
            host = headers.get("host")
            if host is None or origin != f"{scope.get('scheme', 'http')}://{host}":
                return 403, "cross-origin request refused"
        if self._token is None:
            return 403, DISABLED
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return 401, "missing bearer token"
        if not hmac.compare_digest(given.strip().encode(), self._token):
            return 401, "wrong bearer token"
        return None


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title=f"kmm {service.name}", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(OperatorAuth, token=service.settings.admin_token())

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok", "service": service.name}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await service.readiness()
        ready = all(ok for ok, _ in checks.values())
        body = {"ready": ready, "service": service.name,
                "checks": {k: {"ok": ok, "detail": d} for k, (ok, d) in checks.items()}}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status")
    async def status() -> dict:
        return {"service": service.name, **service.status()}

    service.routes(app)
    return app
