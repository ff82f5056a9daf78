"""`ivr serve` as a real process: migrates, serves /healthz and the API, exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from telephony.audiosocket.protocol import Hangup, Uuid, encode
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_until

IVR = Path(sys.executable).with_name("ivr")
ROOT = Path(__file__).resolve().parents[2]

STAFF_TOKEN, CHANNEL_TOKEN = "serve-staff-token-0123456789", "serve-channel-token-0123456789"  # >= 24 chars


def start(db: str, port: int, tmp_path: Path, *extra: str, audiosocket: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "MADOGUCHI_API_TOKENS": f"staff:{STAFF_TOKEN},channel:{CHANNEL_TOKEN}",
           "MADOGUCHI_PERSON_KEY": "serve-test-key", "MADOGUCHI_MODELS_DIR": str(ROOT / "asr_models"),
           "MADOGUCHI_DIALOG_SCRIPT": str(ROOT / "dialogs" / "scripts" / "vaccine.yaml")}
    log = (tmp_path / f"serve-{port}.log").open("wb")
    # The IVR part listens on a free AudioSocket port; no Asterisk answers on the AMI port.
    ivr = ["--audiosocket", f"127.0.0.1:{audiosocket or free_port()}", "--ami", f"127.0.0.1:{free_port()}"]
    return subprocess.Popen([str(IVR), "serve", "--db", db, "--http", f"127.0.0.1:{port}", *ivr, *extra],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)


def log_tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


def wait_healthy(process: subprocess.Popen, port: int, timeout: float = 90.0,
                 log: Path | None = None) -> httpx.Response:
    def health() -> httpx.Response | None:
        if process.poll() is not None:
            raise AssertionError(f"ivr serve exited with {process.returncode}\n{log_tail(log) if log else ''}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        except httpx.TransportError:
            return None

    return wait_until(health, "ivr serve answered /healthz", timeout=timeout, interval=0.1)


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
        released = httpx.post(f"{base}/batches", json=batch, headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
        assert released.status_code == 201 and released.json()["created"] == 2
        slots = httpx.get(f"{base}/slots", params={"service": "vaccine", "date_from": "2027-03-01",
                                                   "date_to": "2027-03-01"},
                          headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"})
        assert [s["start"] for s in slots.json()["items"]] == ["2027-03-01T09:00:00+09:00",
                                                                "2027-03-01T09:30:00+09:00"]
        assert httpx.get(f"{base}/slots", params={"service": "vaccine"}).status_code == 401
        assert "madoguchi_calls_active" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        # A booking code in a URL path never reaches the access log in clear.
        staff = {"Authorization": f"Bearer {STAFF_TOKEN}"}
        assert httpx.get(f"{base}/bookings/40912345", headers=staff).status_code == 404
    finally:
        process.send_signal(stop)
        code = process.wait(timeout=30)
    log = (tmp_path / f"serve-{port}.log").read_text(encoding="utf-8")
    assert code == 0, log
    assert "database migrated" in log and "stopped" in log
    assert "serve-staff" not in log
    assert "/api/v1/bookings/***" in log and "40912345" not in log


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


def test_serve_refuses_short_tokens(tmp_path):
    env = {**os.environ, "MADOGUCHI_API_TOKENS": f"staff:{STAFF_TOKEN},channel:too-short-a-token"}
    result = subprocess.run([str(IVR), "serve", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--http",
                             f"127.0.0.1:{free_port()}"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "at least 24" in result.stderr and "too-short" not in result.stderr


def test_sigterm_while_starting_is_a_clean_stop(tmp_path):
    port = free_port()
    process = start(f"sqlite:///{tmp_path / 'early.db'}", port, tmp_path)
    log = tmp_path / f"serve-{port}.log"

    def migrated() -> bool:  # the signal handlers are installed by now
        assert process.poll() is None, log_tail(log)
        return "database migrated" in log.read_text(encoding="utf-8")

    wait_until(migrated, lambda: log_tail(log), timeout=90)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text(encoding="utf-8")
    assert "SIGTERM: stopping" in log.read_text(encoding="utf-8")


def listening_inodes(port: int) -> set[str]:
    """Inodes of the IPv4 sockets listening on `port` (state 0A in /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def worker_pids(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"IVR worker \d+ started \(pid (\d+)\)", log.read_text(encoding="utf-8"))]


def place_calls(port: int, count: int) -> None:
    """`count` AudioSocket calls at once, each a UUID message then the caller's hang-up."""
    calls = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    try:
        for call in calls:
            call.sendall(encode(Uuid(uuid.uuid4()), to_asterisk=False) + encode(Hangup(), to_asterisk=False))
        for call in calls:
            while call.recv(4096):  # the IVR closes the connection when the session has ended
                pass
    finally:
        for call in calls:
            call.close()


def test_workers_share_the_audiosocket_port_restart_a_dead_child_and_stop_together(tmp_path):
    port, audiosocket = free_port(), free_port()
    log = tmp_path / f"serve-{port}.log"
    process = start(f"sqlite:///{tmp_path / 'workers.db'}", port, tmp_path, "--workers", "2",
                    audiosocket=audiosocket)
    try:
        health = wait_healthy(process, port, log=log)
        assert health.status_code == 503 and health.json()["audiosocket"] == "ok"  # no Asterisk: AMI down

        def two_processes_listen() -> bool:
            pids = [process.pid, *worker_pids(log)[-1:]]
            owners = {pid for pid in pids if Path(f"/proc/{pid}").exists()
                      and socket_inodes(pid) & listening_inodes(audiosocket)}
            return len(listening_inodes(audiosocket)) == 2 and len(owners) == 2

        wait_until(two_processes_listen, lambda: log_tail(log), timeout=60, interval=0.1)
        # Calls (UUID, then the caller hangs up) spread over both processes; the child's call events
        # reach the parent's bus, so /metrics counts every call.
        placed = 0
        child = worker_pids(log)[0]
        while f"[{child}] INFO ivr.session: call" not in log.read_text(encoding="utf-8"):
            assert placed < 48, log.read_text(encoding="utf-8")[-3000:]
            place_calls(audiosocket, 12)
            placed += 12
        metrics = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: f'madoguchi_calls_total{{outcome="abandoned"}} {placed}.0' in httpx.get(metrics).text,
                   lambda: log_tail(log), timeout=60, interval=0.1)
        # A child that dies is logged and started again, on the same shared port.
        first_child = worker_pids(log)[0]
        os.kill(first_child, signal.SIGKILL)
        wait_until(lambda: len(worker_pids(log)) == 2, lambda: log_tail(log), timeout=60, interval=0.1)
        assert "IVR worker 1 exited with -9; restarting it (1/5)" in log.read_text(encoding="utf-8")
        wait_until(two_processes_listen, lambda: log_tail(log), timeout=60, interval=0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["db"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=40)
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    assert "IVR worker 1 stopped (exit 0)" in text and text.count("] INFO ivr.commands.serve: stopped") == 2
    for pid in worker_pids(log):
        assert not Path(f"/proc/{pid}").exists()
    assert not listening_inodes(audiosocket)
