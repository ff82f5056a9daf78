"""Two `ivr serve` nodes on one PostgreSQL: each node's dashboard and API show the other's calls.

Two real processes on distinct ports share a scratch database (and nothing else). Calls are real
AudioSocket sessions (a UUID, then the caller hangs up, as `tests/cli/test_cli_serve.py` places them;
no Asterisk answers on either node's AMI port). A call on node A shows on node B's
`GET /api/v1/calls` and `/live`, tagged `node-a`, and the other way round; each node lists its own
calls once; each node counts only its own in /metrics; node A's `--max-calls 1` refuses a second
call while node B takes one; ended calls go from both.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from telephony.audiosocket.protocol import Hangup, Uuid, encode
from tests.fixtures.databases import scratch_postgres
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

IVR = Path(sys.executable).with_name("ivr")
ROOT = Path(__file__).resolve().parents[2]
STAFF, OPERATOR = "nodes-staff-token-0123456789", "nodes-operator-token-0123456789"


class ServeNode:
    """One `ivr serve` process: its name, HTTP and AudioSocket ports, and log."""

    def __init__(self, name: str, db: str, tmp_path: Path, *extra: str) -> None:
        self.name, self.http, self.audiosocket = name, free_port(), free_port()
        self.log = tmp_path / f"{name}.log"
        env = {**os.environ, "MADOGUCHI_API_TOKENS": f"staff:{STAFF},operator:{OPERATOR}",
               "MADOGUCHI_PERSON_KEY": "two-nodes-person-key", "MADOGUCHI_NODE_NAME": name,
               "MADOGUCHI_MODELS_DIR": str(ROOT / "asr_models"), "MADOGUCHI_TTS_PROCESSES": "0",
               "MADOGUCHI_DIALOG_SCRIPT": str(ROOT / "dialogs" / "scripts" / "vaccine.yaml")}
        command = [str(IVR), "serve", "--db", db, "--http", f"127.0.0.1:{self.http}",
                   "--audiosocket", f"127.0.0.1:{self.audiosocket}", "--ami", f"127.0.0.1:{free_port()}", *extra]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
        self.web = httpx.Client(base_url=f"http://127.0.0.1:{self.http}", timeout=10)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self) -> str:
        return f"--- {self.name} ---\n" + self.text()[-3000:]

    def wait_healthy(self) -> None:
        def answers() -> bool:
            assert self.process.poll() is None, self.tail()
            try:
                return self.web.get("/healthz").json()["db"] == "ok"
            except (httpx.TransportError, ValueError):
                return False

        wait_until(answers, self.tail, timeout=150, interval=0.2)

    def calls(self) -> list[dict]:
        answer = self.web.get("/api/v1/calls", headers={"Authorization": f"Bearer {OPERATOR}"})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    def login(self) -> None:
        page = self.web.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
        done = self.web.post("/login", data={"login_csrf": token, "token": OPERATOR})
        assert done.status_code in (200, 303), done.text

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.web.close()


class Call:
    """An AudioSocket call: the UUID, then the IVR's audio read (and dropped) until the caller hangs up."""

    def __init__(self, port: int) -> None:
        self.id = str(uuid.uuid4())
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(encode(Uuid(uuid.UUID(self.id)), to_asterisk=False))
        self.closed = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.closed.set()

    def hang_up(self) -> None:
        if not self.closed.is_set():
            self.sock.sendall(encode(Hangup(), to_asterisk=False))
            self.closed.wait(30)
        self.sock.close()


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with scratch_postgres("madoguchi_two_nodes") as url:
        yield url


@contextmanager
def nodes(database: str, tmp_path: Path) -> Iterator[tuple[ServeNode, ServeNode]]:
    with ExitStack() as stack:
        a = ServeNode("node-a", database, tmp_path, "--max-calls", "1")
        stack.callback(a.stop)
        b = ServeNode("node-b", database, tmp_path)
        stack.callback(b.stop)
        a.wait_healthy()
        b.wait_healthy()
        wait_until(lambda: "node 'node-b' is on the same database" in a.text()
                   and "node 'node-a' is on the same database" in b.text(), lambda: a.tail() + b.tail(), timeout=30)
        yield a, b


def ids(calls: list[dict], node: str | None = None) -> list[str]:
    return [c["id"] for c in calls if node is None or c["node"] == node]


def calls_active(node: ServeNode) -> float:
    text = node.web.get("/metrics").text
    return float(re.search(r"^madoguchi_calls_active (\S+)$", text, re.M).group(1))


def test_each_node_shows_the_other_node_s_calls_once_and_counts_its_own(database, tmp_path):
    with nodes(database, tmp_path) as (a, b):
        on_a = Call(a.audiosocket)
        on_b = Call(b.audiosocket)
        try:
            # A's call on B's API and B's call on A's, each tagged with the node that runs it
            wait_until(lambda: on_a.id in ids(b.calls(), "node-a") and on_b.id in ids(a.calls(), "node-b"),
                       lambda: f"{a.calls()} {b.calls()}\n{a.tail()}\n{b.tail()}", timeout=30)
            for _ in range(4):  # across a beat (5 s): each call listed once on each node, by its own node
                for node in (a, b):
                    listed = node.calls()
                    assert sorted(ids(listed)) == sorted([on_a.id, on_b.id]), listed
                    assert {c["id"]: c["node"] for c in listed} == {on_a.id: "node-a", on_b.id: "node-b"}
                time.sleep(1.5)
            # the dashboard: B's /live lists A's call with A's name, and the server column is shown
            b.login()
            page = b.web.get("/live")
            assert page.status_code == 200
            assert f'data-call="{on_a.id}" data-node="node-a"' in page.text
            assert f'data-call="{on_b.id}" data-node="node-b"' in page.text
            assert 'class="calls nodes"' in page.text and ">node-a</td>" in page.text
            # admission is per node: A (--max-calls 1) refuses a second call at once; B never shows it
            refused = Call(a.audiosocket)
            assert refused.closed.wait(15), "node A took a call beyond its --max-calls"
            refused.hang_up()
            assert refused.id not in ids(b.calls()) and refused.id not in ids(a.calls())
            # /metrics counts each node's own calls only
            assert calls_active(a) == 1 and calls_active(b) == 1
        finally:
            on_a.hang_up()
            on_b.hang_up()
        wait_until(lambda: not a.calls() and not b.calls(), lambda: f"{a.calls()} {b.calls()}", timeout=30)
        codes = (a.stop(), b.stop())
    assert codes == (0, 0), a.tail() + b.tail()
    assert "node 'node-a' left" in b.text() or "node 'node-b' left" in a.text()
    for node in (a, b):
        assert "another node also calls itself" not in node.text()
