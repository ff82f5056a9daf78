"""`make run`'s script: migrate, load the demo batch (idempotent), then `exec ivr serve` (SIGTERM -> 0)."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import date, timedelta
from pathlib import Path

import httpx

from test_cli_serve import IVR, ROOT, wait_healthy
from tests.fixtures.ports import free_port

RUN_TOKEN = "run-operator-token-0123456789"  # API tokens are at least 24 characters


def run_script(tmp_path: Path, db: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "IVR": str(IVR), "MADOGUCHI_DB": db, "MADOGUCHI_HTTP": f"127.0.0.1:{port}",
           "MADOGUCHI_AUDIOSOCKET": f"127.0.0.1:{free_port()}", "MADOGUCHI_AMI": f"127.0.0.1:{free_port()}",
           "MADOGUCHI_API_TOKENS": f"operator:{RUN_TOKEN}", "MADOGUCHI_PERSON_KEY": "run-test-key",
           "MADOGUCHI_MODELS_DIR": str(ROOT / "asr_models"),
           "MADOGUCHI_DIALOG_SCRIPT": str(ROOT / "dialogs" / "scripts" / "vaccine.yaml")}
    log = (tmp_path / "run.log").open("ab")
    return subprocess.Popen(["bash", str(ROOT / "scripts" / "run.sh")], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=tmp_path)


def test_run_script_loads_the_demo_and_stops_cleanly(tmp_path):
    """One round (each start loads the speech models); `ivr slots demo` idempotency is tested apart."""
    db = f"sqlite:///{tmp_path / 'var' / 'run.db'}"
    port = free_port()
    process = run_script(tmp_path, db, port)
    try:
        wait_healthy(process, port, log=tmp_path / "run.log")
        first = date.today() + timedelta(days=1)
        slots = httpx.get(f"http://127.0.0.1:{port}/api/v1/slots",
                          params={"service": "vaccine", "date_from": first.isoformat(),
                                  "date_to": (first + timedelta(days=6)).isoformat()},
                          headers={"Authorization": f"Bearer {RUN_TOKEN}"}, timeout=10)
        assert slots.status_code == 200
        assert len(slots.json()["items"]) >= 12 * 6  # 12 a day; "tomorrow" may differ by zone at midnight
    finally:
        process.send_signal(signal.SIGTERM)  # the script exec'd: this is `ivr serve` itself
        code = process.wait(timeout=60)
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert code == 0, log
    assert "database is up to date" in log and log.count(": 84 slots created, 0 already existed") == 2
