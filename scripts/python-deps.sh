#!/usr/bin/env bash
# Create the virtualenv and install kmm (editable) with its test dependencies.
set -euo pipefail
PY=${1:-python3}
VENV=${2:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e '.[test]'
# Kalshi's official SDK, for the simulator conformance test only. It declares python<3.11 wrongly
# and pins old dependencies, so it goes in without its resolver, followed by what it imports.
"$VENV/bin/pip" install -q --no-deps --ignore-requires-python kalshi-python-sync==3.34.0
"$VENV/bin/pip" install -q 'lazy-imports<2' python-dateutil 'urllib3>=2.1,<3' typing-extensions
