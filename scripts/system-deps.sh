#!/usr/bin/env bash
# Install the system packages kmm needs when they are missing (Debian/Ubuntu, as root or with sudo):
# redis-server (the bus, for make run and the tests), prometheus (promtool + the real-Prometheus test)
# and tmux (the console test drives kmm run in a tmux pane).
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${need[*]} — install them with your package manager" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing ${need[*]} with apt-get" >&2
# Debian would start the packaged daemons on their standard ports; kmm never uses them (it runs its
# own on private sockets), so a policy-rc.d refuses service starts for the length of the install.
policy=/usr/sbin/policy-rc.d
added=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && added=1
fi
trap 'if [ "$added" = 1 ]; then $SUDO rm -f "$policy"; fi' EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
