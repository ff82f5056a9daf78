"""`ivr models install`: install the speech models listed in asr_models/manifest.json."""

from __future__ import annotations

import click

from ivr.commands import with_overrides
from ivr.speech.models import ModelError, install, is_installed, load_manifest


class _Bar:
    """A click progress bar per file label, fed (label, done, total) callbacks."""

    def __init__(self) -> None:
        self.label, self.bar, self.done = None, None, 0

    def __call__(self, label: str, done: int, total: int) -> None:
        if label != self.label:
            self.close()
            self.label, self.done = label, 0
            self.bar = click.progressbar(length=max(total, 1), label=label, width=30, file=click.get_text_stream("stderr"))
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.group()
def models() -> None:
    """Speech models (Whisper base, Vosk)."""


@models.command("install")
@click.option("--backend", type=click.Choice(["whisper", "vosk", "all"]), default="all", show_default=True)
@click.option("--models-dir", type=click.Path(file_okay=False), default=None)
@click.pass_context
def install_command(ctx: click.Context, backend: str, models_dir: str | None) -> None:
    """Install the models (idempotent; fast when already installed)."""
    settings = with_overrides(ctx.obj, models_dir=models_dir)
    failed = False
    for spec in load_manifest(settings.models_dir):
        if backend != "all" and spec.backend != backend:
            continue
        if is_installed(settings.models_dir, spec):
            click.echo(f"{spec.name}: installed")
            continue
        bar = _Bar()
        try:
            path = install(settings.models_dir, spec, bar)
        except ModelError as exc:
            bar.close()
            if spec.optional:
                click.echo(f"{spec.name}: skipped (optional): {exc}", err=True)
                continue
            click.echo(f"{spec.name}: FAILED: {exc}", err=True)
            failed = True
            continue
        bar.close()
        click.echo(f"{spec.name}: installed in {path}")
    if failed:
        raise SystemExit(1)


@models.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """Show the manifest and what is installed."""
    settings = ctx.obj
    for spec in load_manifest(settings.models_dir):
        state = "installed" if is_installed(settings.models_dir, spec) else "missing"
        click.echo(f"{spec.name:28} {spec.backend:8} {spec.language:12} {state:10} {spec.source}")


commands = [models]
