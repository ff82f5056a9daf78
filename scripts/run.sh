#!/usr/bin/env bash
# `make run`: migrate the SQLite database, load a demo batch, start the service in the foreground.
set -euo pipefail
IVR=${IVR:-.venv/bin/ivr}
"$IVR" db upgrade
exec "$IVR" serve
