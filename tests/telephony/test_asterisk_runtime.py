"""The Asterisk runtime: the cached chroot, a clean boot, and an AMI client that survives a restart.

Named so that it runs after the call tests: the restart resets Asterisk for everyone.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from telephony.ami.protocol import AmiMessage
from telephony.asterisk import ConfigTemplateError, render_config, render_text, template_names
from telephony.asterisk_runtime import chroot_ready
from tests.fixtures.waiting import until

pytestmark = [pytest.mark.timeout(420)]  # the first test may build the chroot (~45 s, more on a slow mirror)


@pytest.mark.asterisk
def test_chroot_is_complete_and_asterisk_22(asterisk):
    assert chroot_ready(asterisk.root)
    status = asterisk.runtime.status()
    assert status.running and status.pid and status.version.startswith("Asterisk 22.")
    # The instance lives in its own directory inside the chroot, never in the chroot's /etc/asterisk.
    assert (asterisk.runtime.instance_dir / "etc" / "extensions.conf").is_file()
    assert (asterisk.runtime.instance_dir / "run" / "asterisk.ctl").exists()


@pytest.mark.asterisk
def test_boot_log_has_no_errors(asterisk):
    log = asterisk.boot_log
    assert "Asterisk" in log
    assert not re.findall(r"\] (ERROR|WARNING)\[", log), log


def test_config_set_renders_completely():
    values = {"AMI_BIND": "127.0.0.1", "AMI_PORT": "5038", "AMI_USER": "u", "AMI_SECRET": "s",
              "AMI_PERMIT": "127.0.0.1/255.255.255.255", "AUDIOSOCKET": "127.0.0.1:9092",
              "SIP_BIND": "0.0.0.0:5060", "OPERATOR_SECRET": "o", "ETC_DIR": "/etc/asterisk",
              "RUN_DIR": "/run/asterisk", "LOG_DIR": "/var/log/asterisk", "SPOOL_DIR": "/var/spool/asterisk",
              "DB_DIR": "/var/lib/asterisk", "LINE_SEATS": "3", "LINE_MAX_WAITING": "5",
              "LINE_MAX_WAIT_MINUTES": "10", "LINE_CALL_SECONDS": "90", "LINE_SOUNDS": "/srv/sounds",
              "TRUNK_HOST": "203.0.113.5", "RTP_START": "10000", "RTP_END": "10099"}
    production = render_config(values)
    assert "madoguchi-test.conf" not in production and "test-caller" not in production["extensions.conf"]
    assert all("@@" not in text for text in production.values())
    assert "MADOGUCHI_AUDIOSOCKET = 127.0.0.1:9092" in production["extensions.conf"]
    assert "TryExec(AudioSocket(${MADOGUCHI_UUID},${MADOGUCHI_AUDIOSOCKET}))" in production["extensions.conf"]
    # the seats of the line (queue madoguchi-line): one Local channel per call the IVR takes at once
    assert '#include "madoguchi-seats.conf"' in production["queues.conf"]
    assert production["madoguchi-seats.conf"].count("member => Local/") == 3
    assert "member => Local/seat3@madoguchi-seat/n" in production["madoguchi-seats.conf"]
    assert "periodic-announce = /srv/sounds/line-hold-on" in production["queues.conf"]
    with pytest.raises(ConfigTemplateError, match="LINE_SEATS"):
        render_config({**values, "LINE_SEATS": "0"})
    assert {"cdr.conf", "cel.conf", "acl.conf", "udptl.conf", "ccss.conf", "features.conf",
            "indications.conf"} <= set(production)
    test = render_config(values, test=True)
    assert '#include "madoguchi-test.conf"' in test["extensions.conf"] and "[test-caller]" in test["madoguchi-test.conf"]
    assert "madoguchi-test.conf" in template_names(test=True)
    with pytest.raises(ConfigTemplateError, match="AMI_SECRET"):
        render_config({k: v for k, v in values.items() if k != "AMI_SECRET"})
    with pytest.raises(ConfigTemplateError, match="line break"):
        render_text("secret = @@AMI_SECRET@@", {"AMI_SECRET": "x\n[evil]"})


@pytest.mark.asterisk
def test_restart_under_a_connected_client_reconnects_and_the_queue_view_recovers(asterisk):
    async def scenario():
        async with asterisk.ami(backoff_initial=0.1, backoff_cap=1.0) as ami:
            before = ami.queues.snapshot()
            assert "operators" in before
            logins, refreshed = ami.logins, ami.queues.refreshed
            # A stale caller the restart will make disappear.
            ami.queues.apply(AmiMessage(
                (("Event", "QueueCallerJoin"), ("Queue", "operators"), ("Position", "1"),
                 ("Channel", "Local/stale;1"), ("CallerIDNum", "0300000000"))))
            await asyncio.to_thread(asterisk.restart)
            await until(lambda: ami.logins > logins and ami.queues.refreshed > refreshed,
                        "the client logged in again and reloaded the queue view", timeout=20)
            assert ami.connected
            assert (await ami.action("Ping"))["Response"] == "Success"
            after = ami.queues.snapshot()
            assert after["operators"].callers == ()
            assert after["operators"].logged_in == before["operators"].logged_in
            return ami.logins - logins

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize("missing", ["marker", "asterisk", "none"])
def test_a_chroot_is_reused_only_when_complete(tmp_path, missing):
    from telephony.asterisk_runtime import MARKER, REQUIRED_FILES

    for rel in REQUIRED_FILES:
        if not (missing == "asterisk" and rel.endswith("sbin/asterisk")):
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text("x")
    if missing != "marker":
        (tmp_path / MARKER).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / MARKER).write_text("{}")
    assert chroot_ready(tmp_path) is (missing == "none")


def test_stale_instances_of_dead_test_runs_are_swept(tmp_path):
    from telephony.asterisk_runtime import sweep_stale

    base = tmp_path / "srv" / "madoguchi"
    for name in ("pytest-111", "pytest-222", "pytest-x", "default"):
        (base / name / "etc").mkdir(parents=True)
    (base / "pytest-111" / "asterisk.host.pid").write_text("999999999")  # no such process
    swept = sweep_stale(tmp_path, "pytest-", owner_alive=lambda pid: pid == 222)
    assert swept == ["pytest-111"]
    assert sorted(p.name for p in base.iterdir()) == ["default", "pytest-222", "pytest-x"]


def _manager_users(text: str) -> dict[str, dict[str, set[str]]]:
    """manager.conf: user -> {"read": classes, "write": classes} (sections other than [general])."""
    users: dict[str, dict[str, set[str]]] = {}
    section = None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            if section != "general":
                users[section] = {"read": set(), "write": set()}
        elif section in users and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if key in ("read", "write"):
                users[section][key] = {c.strip() for c in value.split(",") if c.strip()}
    return users


def _loaded(modules_conf: str) -> set[str]:
    return {line.split("=>", 1)[1].strip() for line in modules_conf.splitlines()
            if line.strip().startswith("load") and "=>" in line}


def test_production_config_grants_the_ivr_only_what_it_uses():
    """The IVR's manager user: Setvar (call) to hand a caller on; events to follow calls, queues and the
    dialplan's UserEvents, and FullyBooted. No originate, no system-wide actions, no other user."""
    from telephony.asterisk import PRODUCTION_DEFAULTS

    values = {**PRODUCTION_DEFAULTS, "AMI_USER": "ivr", "AMI_SECRET": "s", "OPERATOR_SECRET": "o"}
    production = render_config(values)
    users = _manager_users(production["manager.conf"])
    assert set(users) == {"ivr"}
    assert users["ivr"]["write"] == {"call"}
    assert users["ivr"]["read"] == {"system", "call", "agent", "user"}
    assert "#include" not in production["manager.conf"]
    assert "runuser = asterisk" in production["asterisk.conf"].splitlines()
    assert "rungroup = asterisk" in production["asterisk.conf"].splitlines()
    assert "autoload = no" in production["modules.conf"].splitlines()
    loaded = _loaded(production["modules.conf"])
    assert {"app_audiosocket.so", "app_queue.so", "app_exec.so", "chan_pjsip.so"} <= loaded
    # the line's announcements, call-back keys and seats: Playback, Read, SHARED()
    assert {"app_playback.so", "app_read.so", "func_global.so"} <= loaded
    # only the simulated callers record and key: those modules are test-only
    assert not loaded & {"app_senddtmf.so", "app_mixmonitor.so", "func_logic.so"}


def test_the_test_runtime_adds_a_caller_manager_user_that_may_originate():
    from telephony.asterisk import PRODUCTION_DEFAULTS, caller_ami_user

    values = {**PRODUCTION_DEFAULTS, "AMI_USER": "ivr", "AMI_SECRET": "s", "OPERATOR_SECRET": "o"}
    test = render_config(values, test=True)
    assert caller_ami_user("ivr") == "ivr-caller"
    manager = test["manager.conf"] + test["madoguchi-test-manager.conf"]
    assert '#include "madoguchi-test-manager.conf"' in test["manager.conf"]
    users = _manager_users(manager)
    assert set(users) == {"ivr", "ivr-caller"} and users["ivr"]["write"] == {"call"}
    assert {"originate", "call", "agent"} <= users["ivr-caller"]["write"] and "system" not in users["ivr-caller"]["write"]
    assert '#include "madoguchi-test-modules.conf"' in test["modules.conf"]
    assert {"app_senddtmf.so", "app_mixmonitor.so"} <= _loaded(test["madoguchi-test-modules.conf"])
    assert "app_playback.so" in _loaded(test["modules.conf"])


@pytest.mark.asterisk
def test_only_the_test_caller_user_may_originate(asterisk):
    from telephony.ami.client import AmiActionError

    async def scenario():
        async with asterisk.ami(user=asterisk.ami_user, secret=asterisk.ami_secret) as ivr:
            await ivr.set_global("MADOGUCHI_PROBE", "1")  # what the IVR does: allowed
            assert ivr.queues.refreshed and "operators" in ivr.queues.snapshot()  # QueueStatus, QueueSummary
            with pytest.raises(AmiActionError, match="(?i)permission"):
                await ivr.originate("Local/play@test-caller", "madoguchi-inbound", "s")
        async with asterisk.ami() as caller:  # the simulator's and the fixtures' user
            reply = await caller.originate("Local/play@test-caller", "test-caller", "play", timeout_ms=2000)
            assert reply["Response"] == "Success"

    asyncio.run(scenario())


@pytest.mark.asterisk
def test_asterisk_runs_as_its_own_user(asterisk):
    pid = asterisk.runtime.pid()
    status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
    uid = int(status["Uid"].split()[0])
    users = {int(f[2]): f[0] for f in (line.split(":") for line in (asterisk.root / "etc/passwd").read_text().splitlines())}
    assert users.get(uid) == "asterisk"
