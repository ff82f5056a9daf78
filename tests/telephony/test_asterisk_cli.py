"""`ivr asterisk up|down|status` without touching the real chroot (its runs are in the fixture)."""

from __future__ import annotations

from click.testing import CliRunner

from ivr.cli import cli


def test_status_of_a_missing_chroot_exits_1(tmp_path):
    result = CliRunner().invoke(cli, ["asterisk", "status", "--root", str(tmp_path / "none"), "--instance", "x"])
    assert result.exit_code == 1
    assert "chroot: missing" in result.output and "running: no" in result.output


def test_up_refuses_an_empty_ami_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("MADOGUCHI_AMI_SECRET", raising=False)
    result = CliRunner().invoke(cli, ["asterisk", "up", "--root", str(tmp_path / "none")])
    assert result.exit_code != 0 and "MADOGUCHI_AMI_SECRET is empty" in result.output
    assert not (tmp_path / "none").exists()


def test_down_when_not_running(tmp_path):
    result = CliRunner().invoke(cli, ["asterisk", "down", "--root", str(tmp_path), "--instance", "x"])
    assert result.exit_code == 0 and "was not running" in result.output
