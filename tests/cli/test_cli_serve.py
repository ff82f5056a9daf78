"""`ivr serve` as a real process: migrates, serves /healthz and the API, exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

IVR = Path(sys.executable).with_name("ivr")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(db: str, port: int, tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "MADOGUCHI_API_TOKENS": "staff:serve-staff,channel:serve-channel",
           "MADOGUCHI_PERSON_KEY": "serve-test-key", "MADOGUCHI_MODELS_DIR": str(ROOT / "asr_models"),
           "MADOGUCHI_DIALOG_SCRIPT": str(ROOT / "dialogs" / "scripts" / "vaccine.yaml")}
    log = (tmp_path / f"serve-{port}.log").open("wb")
    # The IVR part listens on a free AudioSocket port; no Asterisk answers on the AMI port.
    ivr = ["--audiosocket", f"127.0.0.1:{free_port()}", "--ami", f"127.0.0.1:{free_port()}"]
    return subprocess.Popen([str(IVR), "serve", "--db", db, "--http", f"127.0.0.1:{port}", *ivr, *extra],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)


def wait_healthy(process: subprocess.Popen, port: int, timeout: float = 90.0,
                 log: Path | None = None) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log else ""
            raise AssertionError(f"ivr serve exited with {process.returncode}\n{tail}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("ivr serve did not answer /healthz in time")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_migrates_answers_and_stops_cleanly(tmp_path, stop):
    port = free_port()
    db = f"sqlite:///{tmp_path / 'var' / 'serve.db'}"  # a fresh file: serve migrates it
    process = start(db, port, tmp_path, "--workers", "2")
    try:
        health = wait_healthy(process, port, log=tmp_path / f"serve-{port}.log")
        # No Asterisk here: the API and AudioSocket serve, AMI keeps retrying, so /healthz says 503.
        assert health.status_code == 503
        assert {k: v for k, v in health.json().items() if k != "status"} == {
            "db": "ok", "audiosocket": "ok", "ami": "connecting"}
        base = f"http://127.0.0.1:{port}/api/v1"
        batch = {"service": "vaccine", "site": "市役所", "date_from": "2027-03-01", "date_to": "2027-03-01",
                 "times": ["09:00-10:00"], "every_minutes": 30, "capacity": 1}
        released = httpx.post(f"{base}/batches", json=batch, headers={"Authorization": "Bearer serve-staff"})
        assert released.status_code == 201 and released.json()["created"] == 2
        slots = httpx.get(f"{base}/slots", params={"service": "vaccine", "date_from": "2027-03-01",
                                                   "date_to": "2027-03-01"},
                          headers={"Authorization": "Bearer serve-channel"})
        assert [s["start"] for s in slots.json()["items"]] == ["2027-03-01T09:00:00+09:00",
                                                                "2027-03-01T09:30:00+09:00"]
        assert httpx.get(f"{base}/slots", params={"service": "vaccine"}).status_code == 401
        assert "madoguchi_calls_active" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        process.send_signal(stop)
        code = process.wait(timeout=30)
    log = (tmp_path / f"serve-{port}.log").read_text(encoding="utf-8")
    assert code == 0, log
    assert "database migrated" in log and "stopped" in log
    assert "serve-staff" not in log


def test_serve_refuses_a_busy_port_clearly(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = start(f"sqlite:///{tmp_path / 'x.db'}", port, tmp_path)
        assert process.wait(timeout=60) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in (tmp_path / f"serve-{port}.log").read_text(encoding="utf-8")


def test_serve_refuses_malformed_tokens(tmp_path):
    env = {**os.environ, "MADOGUCHI_API_TOKENS": "boss:x"}
    result = subprocess.run([str(IVR), "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--http",
                             f"127.0.0.1:{free_port()}"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "unknown role 'boss'" in result.stderr


def test_sigterm_while_starting_is_a_clean_stop(tmp_path):
    port = free_port()
    process = start(f"sqlite:///{tmp_path / 'early.db'}", port, tmp_path)
    log = tmp_path / f"serve-{port}.log"
    deadline = time.monotonic() + 90
    while "database migrated" not in log.read_text(encoding="utf-8"):  # the handlers are installed by now
        assert process.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text(encoding="utf-8")
    assert "SIGTERM: stopping" in log.read_text(encoding="utf-8")
