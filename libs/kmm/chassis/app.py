"""FastAPI app factory for a service: ``/livez``, ``/readyz``, ``/metrics``, ``/status`` + its own routes.

``/livez`` only says the process and its event loop answer (it never checks dependencies);
``/readyz`` runs every readiness check and answers 503 with the JSON of each when one fails.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .service import Service


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title=f"kmm {service.name}", lifespan=lifespan, docs_url=None, redoc_url=None)

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
