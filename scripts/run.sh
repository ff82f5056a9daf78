#!/usr/bin/env bash
# `make run`: migrate the database, load a small demo batch (idempotent), start the service in the
# foreground. MADOGUCHI_DB / MADOGUCHI_HTTP / ... choose where; without them, SQLite in var/.
set -euo pipefail
IVR=${IVR:-.venv/bin/ivr}
"$IVR" db upgrade
"$IVR" slots demo
exec "$IVR" serve
