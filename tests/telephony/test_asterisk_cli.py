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


def test_sounds_writes_every_line_prompt_as_8_khz_sln(tmp_path, monkeypatch):
    from ivr.commands import asterisk as command
    from ivr.line import line_prompts

    rendered: list = []
    monkeypatch.setattr(command, "_line_sounds", lambda settings: rendered.append(settings) or {
        name: b"\0\0" * 80 for name in line_prompts(settings)})
    monkeypatch.setenv("MADOGUCHI_LINE_MAX_WAITING", "2")
    monkeypatch.setenv("MADOGUCHI_LINE_MAX_WAIT_MINUTES", "3")
    result = CliRunner().invoke(cli, ["asterisk", "sounds", str(tmp_path / "sounds")])
    assert result.exit_code == 0, result.output
    names = {path.name for path in (tmp_path / "sounds").iterdir()}
    assert {"position-2.sln", "wait-3.sln", "busy.sln", "callback-done.sln"} <= names and "position-3.sln" not in names
    assert rendered[0].line_max_waiting == 2


def test_up_renders_the_trunk_and_operator_secret_from_the_sip_settings(tmp_path, monkeypatch):
    from ivr.commands import asterisk as command
    from ivr.config import Settings

    for name, value in {"TRUNK_HOST": "gw.example.jp:5080", "TRUNK_RTP_PORTS": "12000-12199",
                        "TRUNK_REGISTER_USER": "0312345678", "TRUNK_REGISTER_SECRET": "pw",
                        "OPERATOR_SECRET": "operator-password-123"}.items():
        monkeypatch.setenv(f"MADOGUCHI_{name}", value)
    runtime, _ = command._runtime(Settings(ami_secret="s"), tmp_path, "x", "127.0.0.1:5060", False)
    values = runtime.values()
    assert values["TRUNK_HOST"] == "gw.example.jp:5080" and values["OPERATOR_SECRET"] == "operator-password-123"
    assert (values["RTP_START"], values["RTP_END"]) == ("12000", "12199")
    assert values["TRUNK_REGISTER_USER"] == "0312345678" and values["TRUNK_REGISTER_SECRET"] == "pw"
    monkeypatch.setenv("MADOGUCHI_TRUNK_RTP_PORTS", "12000")
    result = CliRunner().invoke(cli, ["asterisk", "up", "--root", str(tmp_path / "none")], env={"MADOGUCHI_AMI_SECRET": "s"})
    assert result.exit_code != 0 and "MADOGUCHI_TRUNK_RTP_PORTS: expected START-END" in result.output
    assert not (tmp_path / "none").exists()
