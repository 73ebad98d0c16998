"""The ``kmm`` command: one entry point, one module per subcommand.

Each subcommand module exposes ``add_arguments(parser)`` and ``main(args) -> int`` (or names an
object that does: ``module:attr``); they are imported only when their command runs, so ``kmm --help``
stays fast.
"""

import argparse
import importlib
import sys

from kmm.chassis.nodump import forbid_core_dumps

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("kmm.runner.cli", "run the whole system locally: Redis, simulator, services, live view"),
    "service": ("kmm.chassis.cli", "run one service (marketdata, selector, quoter, risk, gateway)"),
    "bootstrap": ("kmm.bus.bootstrap", "create the consumer groups on a Redis"),
    "acl": ("kmm.bus.acl", "write the Redis ACL file generated from the topology table"),
    "sim": ("kmm_services.exchange.cli", "run the Kalshi-compatible exchange simulator"),
    "record": ("kmm.backtest.cli_record", "record md:* streams to an event log"),
    "import": ("kmm.backtest.cli_import", "import Kalshi data into the event log format"),
    "backtest": ("kmm.backtest.cli_backtest", "run one backtest over an event log"),
    "grid": ("kmm.backtest.cli_grid", "grid search over (gamma, kappa)"),
    "report": ("kmm.backtest.cli_report", "report of a backtest, a grid or a kmm run session (fills, P&L, charts)"),
    "status": ("kmm.ops.commands:status", "a running system: services, risk state, exposure, markets"),
    "positions": ("kmm.ops.commands:positions", "a running system's positions, limits and P&L per market"),
    "orders": ("kmm.ops.commands:orders", "a running system's open orders"),
    "halt": ("kmm.ops.commands:halt", "halt trading (cancel every order) on a running system"),
    "resume": ("kmm.ops.commands:resume", "resume trading on a running system"),
    "fills": ("kmm.ops.commands:fills", "a running system's fills since a time"),
    "config": ("kmm.ops.config_cmd", "show the effective settings with their sources and defaults"),
    "doctor": ("kmm.ops.doctor", "preflight checks against Kalshi (or the simulator) before trading"),
}


def main(argv: list[str] | None = None) -> int:
    forbid_core_dumps()  # every kmm command may hold a key, a password or a token
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="kmm", description="kmm: an automated market maker for Kalshi")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name = argv[0]
    module_name, _, attr = COMMANDS[name][0].partition(":")
    module = importlib.import_module(module_name)
    if attr:
        module = getattr(module, attr)
    cmd = argparse.ArgumentParser(prog=f"kmm {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd)
    return int(module.main(cmd.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
