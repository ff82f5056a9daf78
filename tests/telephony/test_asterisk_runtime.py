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
              "DB_DIR": "/var/lib/asterisk"}
    production = render_config(values)
    assert "madoguchi-test.conf" not in production and "test-caller" not in production["extensions.conf"]
    assert all("@@" not in text for text in production.values())
    assert "MADOGUCHI_AUDIOSOCKET = 127.0.0.1:9092" in production["extensions.conf"]
    assert "TryExec(AudioSocket(${MADOGUCHI_UUID},${MADOGUCHI_AUDIOSOCKET}))" in production["extensions.conf"]
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
            async with asyncio.timeout(20):
                while ami.logins == logins or ami.queues.refreshed == refreshed:
                    await asyncio.sleep(0.05)
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
