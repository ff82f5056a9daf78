"""`ivr serve --http-processes 2`: two processes answer on the one HTTP port; a booking made through
one is read through the other; what the extra process does not answer itself (dashboard, /metrics)
comes from the main process, with the extra process's counts in it."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from tests.cli.test_cli_serve import (CHANNEL_TOKEN, STAFF_TOKEN, listening_inodes, log_tail, socket_inodes, start,
                                      wait_healthy)
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_until

CHANNEL = {"Authorization": f"Bearer {CHANNEL_TOKEN}"}
STAFF = {"Authorization": f"Bearer {STAFF_TOKEN}"}
DAY = "2027-03-01"
ACCESS = re.compile(r"\[(\d+)\] INFO uvicorn\.access: (\S*) - \"(\w+) (\S+) ")


def http_pids(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"HTTP process \d+ started \(pid (\d+)\)", log.read_text(encoding="utf-8"))]


def answered(log: Path, method: str, path: str) -> list[int]:
    """The processes that logged `method path` with a client address (the main process logs what an
    extra process forwarded to it without one: that one is not counted)."""
    return [int(pid) for pid, client, m, p in ACCESS.findall(log.read_text(encoding="utf-8"))
            if client and m == method and p.split("?")[0] == path]


def book(base: str, ticket: str) -> str:
    """A hold and its confirm on one fresh connection (one process); the booking's code."""
    with httpx.Client(base_url=base, timeout=30) as client:
        hold = client.post("/api/v1/holds", headers=CHANNEL, json={"slot_id": 1, "ttl_seconds": 60})
        assert hold.status_code == 201, hold.text
        booking = client.post("/api/v1/bookings", headers=CHANNEL, json={
            "hold_id": hold.json()["id"], "ticket_number": ticket, "birthdate": "1965-05-06"})
        assert booking.status_code == 201, booking.text
        return booking.json()["code"]


def test_two_processes_answer_on_one_port_and_share_the_store(tmp_path):
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    process = start(f"sqlite:///{tmp_path / 'http.db'}", port, tmp_path, "--http-processes", "2")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, port, log=log)

        def two_processes_listen() -> bool:
            pids = [process.pid, *http_pids(log)]
            owners = {pid for pid in pids if Path(f"/proc/{pid}").exists()
                      and socket_inodes(pid) & listening_inodes(port)}
            return len(listening_inodes(port)) == 2 and len(owners) == 2

        wait_until(two_processes_listen, lambda: log_tail(log), timeout=60, interval=0.1)
        child = http_pids(log)[0]
        batch = {"service": "vaccine", "site": "市役所", "date_from": DAY, "date_to": DAY,
                 "times": ["09:00-09:30"], "every_minutes": 30, "capacity": 60}
        assert httpx.post(f"{base}/api/v1/batches", json=batch, headers=STAFF).status_code == 201

        # Bookings on fresh connections until each process has made one.
        codes: dict[int, str] = {}
        made = 0
        while len(codes) < 2 and made < 40:
            code = book(base, f"90000000{made:02d}")
            made += 1
            codes.setdefault(answered(log, "POST", "/api/v1/bookings")[-1], code)
        assert set(codes) == {process.pid, child}, log_tail(log)

        # Each booking is read through the other process.
        for maker, code in codes.items():
            for _ in range(40):
                with httpx.Client(base_url=base, timeout=30) as client:
                    found = client.get(f"/api/v1/bookings/{code}", headers=STAFF)
                assert found.status_code == 200 and found.json()["code"] == code
                if answered(log, "GET", "/api/v1/bookings/***")[-1] != maker:
                    break
            else:
                raise AssertionError(f"the booking made by {maker} was never read through the other process")

        # The extra process forwards the dashboard and /metrics to the main process, whose counts
        # include the bookings the extra process made; a client cannot claim another address.
        seen = set()
        for _ in range(40):
            with httpx.Client(base_url=base, timeout=30) as client:
                page = client.get("/login", headers={"X-Madoguchi-Peer": "203.0.113.9"})
                metrics = client.get("/metrics").text
            assert page.status_code == 200 and "ログイン" in page.text
            counted = re.findall(r'madoguchi_bookings_total\{[^}]*channel="web"[^}]*\} (\S+)', metrics)
            assert sum(float(value) for value in counted) == made
            seen.add(answered(log, "GET", "/login")[-1])
            if seen == {process.pid, child}:
                break
        assert seen == {process.pid, child}, log_tail(log)
        assert "203.0.113.9" not in log.read_text(encoding="utf-8")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=40)
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    assert "HTTP process 1 stopped (exit 0)" in text and text.count("INFO ivr.commands.serve: stopped") == 2
    assert not listening_inodes(port)
