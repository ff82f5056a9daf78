"""`ivr asterisk up|down|status`: a real Asterisk 22 for development, in a cached Debian sid chroot.

`up` builds the chroot the first time (debootstrap; about 45 s, needs root), installs our config set
with the AMI address and credentials and the IVR's AudioSocket address from the settings, adds the
test-only `test-caller` context (for `ivr call`), starts Asterisk on loopback and waits for AMI
FullyBooted. `down` stops it by its pid.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from ivr.commands import with_overrides
from ivr.config import ConfigError, Settings, parse_host_port


def _runtime(settings: Settings, root: Path, instance: str, sip: str, test_context: bool):
    from telephony.asterisk_runtime import AsteriskRuntime, RuntimeConfig

    ami_host, ami_port = parse_host_port(settings.ami)
    secret = settings.ami_secret.get_secret_value()
    config = RuntimeConfig(
        ami_user=settings.ami_user, ami_secret=secret or "unset", root=root, instance=instance,
        ami_host=ami_host, ami_port=ami_port, audiosocket=settings.audiosocket, sip_bind=sip,
        test_context=test_context,
    )
    return AsteriskRuntime(config), bool(secret)


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
    try:
        pid = runtime.up()
    except AsteriskRuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Asterisk up: pid {pid}, AMI {settings.ami} (user {settings.ami_user}), "
               f"AudioSocket target {settings.audiosocket}, instance dir {runtime.instance_dir}")


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


commands = [asterisk_group]
