"""The ``--help`` layout the research commands share (``kmm import|record|backtest|grid|report``):
every option shows its default; a required option says so instead of a meaningless ``(default:
None)``; an option whose default is ``None`` says in its own help text what happens without it.

Kept free of heavy imports so ``kmm record --help`` stays fast.
"""

from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """:class:`argparse.ArgumentDefaultsHelpFormatter` without ``(default: None)``, and ``(required)``
    on required options."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.required and action.option_strings:
            return text + " (required)"
        if action.default is None or action.default is argparse.SUPPRESS or "(default" in text:
            return text
        return super()._get_help_string(action)
