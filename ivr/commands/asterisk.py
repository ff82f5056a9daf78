"""`ivr asterisk up|down|status|check`: a real Asterisk 22 for development, in a cached Debian sid chroot.

`up` builds the chroot the first time (debootstrap; about 45 s, needs root), installs our config set
with the AMI address and credentials and the IVR's AudioSocket address from the settings, the line's
seats and waiting limits (`MADOGUCHI_MAX_CALLS` x workers, `MADOGUCHI_LINE_*`) and its Japanese
prompts rendered by Open JTalk (about 0.3 s a prompt the first time, cached after), adds the
test-only `test-caller` context (for `ivr call`), starts Asterisk on loopback and waits for AMI
FullyBooted. `down` stops it by its pid. The carrier trunk, RTP ports and operator1's password come
from the settings (`MADOGUCHI_TRUNK_*`, `MADOGUCHI_OPERATOR_SECRET`; docs/CARRIER.md); `check`
reports what in them is wrong (exit 1) before a carrier's call finds out.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from ivr.commands import with_overrides
from ivr.config import ConfigError, Settings, parse_host_port, parse_port_range


def _runtime(settings: Settings, root: Path, instance: str, sip: str, test_context: bool, *, sounds: bool = False):
    """The instance; with `sounds`, the line's Japanese prompts rendered (Open JTalk) for the install."""
    from telephony.asterisk_runtime import AsteriskRuntime, RuntimeConfig

    ami_host, ami_port = parse_host_port(settings.ami)
    secret = settings.ami_secret.get_secret_value()
    operator = settings.operator_secret.get_secret_value()
    try:
        trunk = _trunk(settings)
    except ConfigError as error:
        raise click.ClickException(f"{error} (`ivr asterisk check` lists every problem)") from None
    config = RuntimeConfig(
        ami_user=settings.ami_user, ami_secret=secret or "unset", root=root, instance=instance,
        ami_host=ami_host, ami_port=ami_port, audiosocket=settings.audiosocket, sip_bind=sip,
        test_context=test_context, line_seats=settings.line_seats, line_max_waiting=settings.line_max_waiting,
        line_max_wait_minutes=settings.line_max_wait_minutes, line_call_seconds=settings.line_call_seconds,
        sounds=_line_sounds(settings) if sounds else {},
        **({"operator_secret": operator} if operator else {}), **trunk,
    )
    return AsteriskRuntime(config), bool(secret)


def _trunk(settings: Settings) -> dict[str, object]:
    """The trunk's fields of `RuntimeConfig` (madoguchi-trunk.conf, rtp.conf) from the settings."""
    return {
        "trunk_host": settings.trunk_host.strip(),
        "trunk_codecs": settings.trunk_codecs,
        "trunk_register_user": settings.trunk_register_user.strip(),
        "trunk_register_secret": settings.trunk_register_secret.get_secret_value(),
        "trunk_external_address": settings.trunk_external_address.strip(),
        "trunk_local_nets": settings.trunk_local_nets,
        "rtp_ports": parse_port_range(settings.trunk_rtp_ports),
    }


def _line_sounds(settings: Settings) -> dict[str, bytes]:
    from ivr.line import line_sounds

    return line_sounds(settings)


_options = [
    click.option("--root", type=click.Path(path_type=Path), default=Path("/var/cache/madoguchi/asterisk-sid"),
                 show_default=True, help="Where the Debian sid chroot is cached."),
    click.option("--instance", default="default", show_default=True,
                 help="Instance name (its own config, logs and pid inside the chroot)."),
    click.option("--ami", metavar="HOST:PORT", help="AMI address (MADOGUCHI_AMI)."),
]


def _with_options(func):
    for option in reversed(_options):
        func = option(func)
    return func


@click.group("asterisk")
def asterisk_group() -> None:
    """A real Asterisk 22 (Debian sid chroot) for development and tests."""


@asterisk_group.command("up")
@_with_options
@click.option("--audiosocket", metavar="HOST:PORT", help="Where the IVR listens (MADOGUCHI_AUDIOSOCKET).")
@click.option("--sip", metavar="HOST:PORT", default="127.0.0.1:5060", show_default=True, help="SIP bind address.")
@click.option("--test-context/--no-test-context", default=True, show_default=True,
              help="Include the test-only test-caller context (simulated callers).")
@click.pass_obj
def up(settings: Settings, root: Path, instance: str, ami: str | None, audiosocket: str | None,
       sip: str, test_context: bool) -> None:
    """Build the chroot if needed, install our config, start Asterisk, wait for FullyBooted."""
    from telephony.asterisk import ConfigTemplateError
    from telephony.asterisk_runtime import AsteriskRuntimeError

    settings = with_overrides(settings, ami=ami, audiosocket=audiosocket)
    runtime, has_secret = _runtime(settings, root, instance, sip, test_context)
    if not has_secret:
        raise click.ClickException(str(ConfigError(
            "MADOGUCHI_AMI_SECRET is empty; set it (for example: export MADOGUCHI_AMI_SECRET="
            f"{secrets.token_hex(12)}) so Asterisk and the IVR share it")))
    running = runtime.pid()
    if running is not None:
        click.echo(f"Asterisk already runs: pid {running}, instance dir {runtime.instance_dir} "
                   "(`ivr asterisk down` first to apply new settings)")
        return
    runtime, _ = _runtime(settings, root, instance, sip, test_context, sounds=True)  # the prompts, to install
    try:
        pid = runtime.up()
    except (AsteriskRuntimeError, ConfigTemplateError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Asterisk up: pid {pid}, AMI {settings.ami} (user {settings.ami_user}), "
               f"AudioSocket target {settings.audiosocket}, instance dir {runtime.instance_dir}")
    if test_context:
        from telephony.asterisk import caller_ami_user

        click.echo(f"simulated callers (`ivr call`) log in as {caller_ami_user(settings.ami_user)}, "
                   "the test-only AMI user that may originate")


@asterisk_group.command("down")
@_with_options
@click.pass_obj
def down(settings: Settings, root: Path, instance: str, ami: str | None) -> None:
    """Stop the instance by its pid (SIGTERM, then SIGKILL)."""
    runtime, _ = _runtime(with_overrides(settings, ami=ami), root, instance, "127.0.0.1:5060", True)
    click.echo("Asterisk stopped" if runtime.down() else "Asterisk was not running")


@asterisk_group.command("status")
@_with_options
@click.pass_obj
def status(settings: Settings, root: Path, instance: str, ami: str | None) -> None:
    """Whether the chroot is built and the instance runs; exit 1 if it does not run."""
    runtime, _ = _runtime(with_overrides(settings, ami=ami), root, instance, "127.0.0.1:5060", True)
    state = runtime.status()
    click.echo(f"chroot: {'ready' if state.chroot_ready else 'missing'} ({root})")
    click.echo(f"version: {state.version or '-'}")
    click.echo(f"running: {'yes, pid %d' % state.pid if state.running else 'no'}; AMI {state.ami}")
    click.echo(f"instance dir: {state.instance_dir}")
    if not state.running:
        raise SystemExit(1)


@asterisk_group.command("sounds")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.pass_obj
def sounds(settings: Settings, directory: Path) -> None:
    """Render the line's Japanese prompts (Open JTalk, 8 kHz .sln) into DIRECTORY, for an Asterisk
    whose config was rendered elsewhere (its LINE_SOUNDS; the container's MADOGUCHI_LINE_SOUNDS)."""
    directory.mkdir(parents=True, exist_ok=True)
    rendered = _line_sounds(settings)
    for name, pcm in rendered.items():
        (directory / f"{name}.sln").write_bytes(pcm)
    click.echo(f"{len(rendered)} prompts written to {directory}")


def _resolve(name: str) -> list[str]:
    import socket

    return sorted({info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_DGRAM)})


@asterisk_group.command("check")
@click.option("--offline", is_flag=True, help="Check the values only: resolve nothing, send no SIP OPTIONS.")
@click.pass_obj
def check(settings: Settings, offline: bool) -> None:
    """Report what in the SIP settings is wrong (carrier unreachable, no RTP ports, operator password
    unset, ...): one line per check; exit 1 if any is a problem."""
    from ivr.sip_check import check_sip
    from telephony.sip_probe import probe

    findings = check_sip(settings, resolve=(lambda name: [name]) if offline else _resolve,
                         probe=None if offline else probe)
    for finding in findings:
        click.echo(f"{'ok     ' if finding.ok else 'PROBLEM'}  {finding.subject}: {finding.message}")
    problems = sum(not f.ok for f in findings)
    if problems:
        click.echo(f"{problems} problem(s): calls may not arrive or be heard until they are fixed", err=True)
        raise SystemExit(1)
    click.echo("the SIP settings look right")


commands = [asterisk_group]
