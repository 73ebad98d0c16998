"""``kmm service NAME``: run one service with uvicorn (one worker) until SIGTERM/SIGINT.

SIGTERM triggers uvicorn's graceful shutdown, which runs the lifespan exit: consumers finish the
batch in hand, ack it, and the process exits 0. A dead long-lived loop exits 1. Any bad setting —
a value, or a file a setting names (Redis password, admin token, key files) — exits 2 with
``<service>: invalid setting KMM_...: <problem>`` and no traceback.

The event loop is uvloop's (a dependency); the standard asyncio loop is used only where uvloop
cannot be imported.
"""

import argparse
import importlib
import importlib.util

import uvicorn

from kmm.bus.topology import SERVICES

from .app import create_app
from .logs import setup_logging
from .nodump import forbid_core_dumps
from .service import Service
from .settings import SettingError, fail, load_settings


def service_class(name: str) -> type[Service]:
    module = importlib.import_module(f"kmm_services.{name}.service")
    return module.SERVICE


def event_loop() -> str:
    """uvicorn's ``loop`` setting: uvloop when it is installed."""
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=SERVICES)


def main(args: argparse.Namespace) -> int:
    forbid_core_dumps()  # before any password, token or key is read
    cls = service_class(args.name)
    settings = load_settings(cls.settings_cls, args.name)
    setup_logging(args.name, settings.log_level, settings.log_format)
    try:
        settings.check_files()
        service = cls(settings)
        app = create_app(service)
    except SettingError as exc:
        fail(args.name, [str(exc)])
    config = uvicorn.Config(
        app, host=settings.http_host, port=settings.http_port, workers=1, loop=event_loop(),
        log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)

    def fatal(code: int) -> None:
        server.should_exit = True

    service.on_fatal = fatal
    server.run()
    if service.exit_code:
        return service.exit_code
    return 0 if server.started else 1
