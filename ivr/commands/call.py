"""`ivr call --scenario FILE`: place a simulated call through Asterisk and print its transcript.

Needs a running Asterisk with the test-caller context and a running IVR (`make run` in another
terminal). The caller's speech is synthesized with the scenario's voice; what the IVR says is
recognized with the same recognizer the IVR uses.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ivr.commands import with_overrides
from ivr.config import Settings, parse_host_port


async def place_call(settings: Settings, scenario_path: Path, *, record: Path | None, listen: str,
                     transcribe: bool, echo=click.echo) -> bool:
    from ivr.ami import MadoguchiAmi
    from ivr.simulator.caller import CallerSimulator, SimulatorConfig
    from ivr.simulator.scenario import load_scenario
    from ivr.simulator.transcript import format_line, format_result
    from ivr.speech.tts import Voice, load_synthesizer
    from telephony.asterisk import caller_ami_user

    from datetime import datetime

    scenario = load_scenario(scenario_path, today=datetime.now(settings.tz).date())
    host, port = parse_host_port(settings.ami)
    # The test runtime's caller user may Originate; the IVR's own user (settings.ami_user) may not.
    ami = MadoguchiAmi(host, port, caller_ami_user(settings.ami_user), settings.ami_secret.get_secret_value())
    await ami.start()
    recognizer = None
    if transcribe:
        from ivr.speech.asr import load_recognizer

        recognizer = await asyncio.to_thread(load_recognizer, settings)
    listen_host, listen_port = _listen_address(listen)

    def voice(v):  # the caller's voice: same engine as the IVR, different speed and pitch
        return load_synthesizer(settings, voice=Voice(backend="openjtalk", speed=v.speed, half_tone=v.half_tone,
                                                      volume_dbfs=v.level_dbfs))

    sim = CallerSimulator(ami, voice, recognizer=recognizer,
                          config=SimulatorConfig(listen_host=listen_host, listen_port=listen_port))
    try:
        await _wait_connected(ami)
        await sim.start()
        result = await sim.call(scenario, record=record, on_line=lambda line: echo(format_line(line)))
    finally:
        await sim.close()
        await ami.close()
        if recognizer is not None and hasattr(recognizer, "close"):
            recognizer.close()
    echo(format_result(result))
    return result.ok


def _listen_address(value: str) -> tuple[str, int]:
    """HOST:PORT where port 0 (any free port) is allowed."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint="--listen")
    return host.strip("[]"), int(port)


async def _wait_connected(ami, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ami.connected:
        if loop.time() > deadline:
            raise click.ClickException(f"cannot log in to Asterisk's AMI within {timeout:.0f} s")
        await asyncio.sleep(0.1)


@click.command("call")
@click.option("--scenario", "scenario_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Scenario file (see scenarios/).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the call to this WAV (stereo: left the IVR, right the caller).")
@click.option("--ami", "ami", metavar="HOST:PORT", help="Asterisk's AMI (default: MADOGUCHI_AMI).")
@click.option("--listen", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Where the simulated caller's AudioSocket server listens.")
@click.option("--no-transcribe", is_flag=True, help="Do not recognize the IVR's prompts (faster).")
@click.pass_obj
def call(settings: Settings, scenario_path: Path, record: Path | None, ami: str | None, listen: str,
         no_transcribe: bool) -> None:
    """Place a simulated call and print the timed transcript of both sides."""
    from ivr.simulator.scenario import ScenarioError

    settings = with_overrides(settings, ami=ami)
    try:
        ok = asyncio.run(place_call(settings, scenario_path, record=record, listen=listen, transcribe=not no_transcribe))
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(0 if ok else 1)


commands = [call]
