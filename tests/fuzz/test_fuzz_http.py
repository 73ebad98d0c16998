"""schemathesis against the simulator's REST (a hand-written OpenAPI description, ``sim_openapi.py``)
and against every service's own OpenAPI (``/openapi.json``: health, status, operator endpoints), with
well-formed and malformed requests, signed or with the operator token where the path needs it, and
sometimes without: no request is ever answered 5xx, every answer is JSON (or the metrics text), and
every service is still alive and ready at the end.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from kmm.kalshi.auth import Signer, generate_private_pem
from kmm_services.exchange.harness import SimHandle, start_simulator
from tests.fuzz.harness import fuzz
from tests.fuzz.sim_openapi import SCHEMA
from tests.helpers import eventually
from tests.system.conftest import System, running_system

SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")
KEY = "fuzz-key"
PEM = generate_private_pem()


def cases(schema: Any) -> st.SearchStrategy[Any]:
    strategies = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append(operation.as_strategy(mode))
            except Exception:  # noqa: BLE001 - an operation with nothing to negate has no negative cases
                continue
    return st.one_of(strategies)


def send(case: Any, base_url: str, headers: dict[str, str]) -> httpx.Response:
    kw = case.as_transport_kwargs(base_url=base_url)
    req_headers = {k: v for k, v in kw.get("headers", {}).items() if k.lower() not in ("connection",)}
    req_headers.update(headers)
    content = kw.get("data")
    if isinstance(content, str):
        content = content.encode()
    return httpx.request(kw["method"], kw["url"], params=kw.get("params") or None, headers=req_headers,
                         json=kw.get("json") if "json" in kw else None, content=content if "json" not in kw else None,
                         timeout=30)


def readable(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.request.method, str(r.request.url), r.status_code, r.text[:300])
    if r.content and not str(r.request.url).endswith("/metrics"):
        r.json()  # every answer is JSON (a clear error body included)


# --- the simulator ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    handle = start_simulator(keys={KEY: SIGNER.public_pem()}, n_markets=4, speed=1.0)
    try:
        yield handle
    finally:
        handle.stop()


SIM_SCHEMA = schemathesis.openapi.from_dict(SCHEMA)
SIGNER = Signer.from_pem(KEY, PEM)


@fuzz(st.tuples(cases(SIM_SCHEMA), st.integers(0, 9)), examples=300)
def test_fuzz_simulator_rest(case: tuple[Any, int], sim: SimHandle) -> None:
    c, auth = case
    path = c.formatted_path
    headers = SIGNER.headers(c.method.upper(), path) if auth and path.startswith("/trade-api/v2/portfolio") else {}
    readable(send(c, sim.root_url, headers))


# --- every service ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(tmp_path_factory.mktemp("kmm-fuzz-http"), "--markets", "4", "--seed", "5", "--speed", "1") as s:
        yield s


def service_schemas(system: System) -> st.SearchStrategy[tuple[str, Any]]:
    parts = []
    for name in SERVICES:
        schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{system.port(name)}/openapi.json")
        parts.append(st.tuples(st.just(name), cases(schema)))
    return st.one_of(parts)


@pytest.fixture(scope="module")
def service_cases(services: System) -> st.SearchStrategy[tuple[str, Any]]:
    return service_schemas(services)


@fuzz(st.tuples(st.data(), st.integers(0, 9)), examples=150)
def test_fuzz_service_endpoints(draw: tuple[Any, int], services: System,
                                service_cases: st.SearchStrategy[tuple[str, Any]]) -> None:
    data, auth = draw
    name, c = data.draw(service_cases)
    headers = {"Authorization": f"Bearer {services.admin_token()}"} if auth else {}
    if auth == 9:
        headers["Origin"] = "http://evil.example"
    r = send(c, f"http://127.0.0.1:{services.port(name)}", headers)
    readable(r)
    if c.method.upper() not in ("GET", "HEAD"):
        if not auth:
            assert r.status_code == 401, (name, c.formatted_path, r.status_code)
        elif auth == 9:
            assert r.status_code == 403, (name, c.formatted_path, r.status_code)


def test_every_service_survives_the_http_fuzz(services: System) -> None:
    eventually(lambda: all(services.ready(n) for n in SERVICES), timeout=60, interval=0.5, what="every service ready")
    assert {n: services.sup.children[n].restarts for n in SERVICES} == dict.fromkeys(SERVICES, 0)
