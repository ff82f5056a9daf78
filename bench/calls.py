"""N concurrent simulated booking calls by speech through the real Asterisk, against `ivr serve`.

Starts its own Asterisk (the Debian sid chroot, test-caller context, free loopback ports) and its
own `ivr serve` process on a fresh SQLite database, releases enough slots, then for each N places N
booking calls at once with the caller simulator (caller speech from Open JTalk in another voice; the
IVR's side is not transcribed, so the bench process stays light). Reports per N: completion rate
(calls that ended with a booking in the store), end of caller speech → first reply audio (p50/p95,
as the caller hears it), booking call duration (median), and the `ivr serve` process's CPU seconds
and resident memory growth per call.

    python bench/calls.py --calls 1,2,4 --write

`--flows speech,one-answer,keys --repeat 3` then places one call at a time per flow, `--repeat`
times each, and reports each flow's median booking call (answer to hang-up) as a caller who answers
when each prompt ends hears it: the measurement the dialog model's estimate stood for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.sections import replace_section  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.privacy import mask_text as mask  # noqa: E402
from ivr.simulator.caller import CallerSimulator, SimulatorConfig  # noqa: E402
from ivr.simulator.scenario import parse_scenario  # noqa: E402
from ivr.speech.tts import Voice, load_synthesizer  # noqa: E402
from slots import store  # noqa: E402
from sqlalchemy import text  # noqa: E402
from slots.batches import BatchSpec  # noqa: E402
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade  # noqa: E402
from slots.person import Person  # noqa: E402
from telephony.ami.client import AmiClient  # noqa: E402
from telephony.asterisk import caller_ami_user  # noqa: E402
from telephony.asterisk_runtime import AsteriskRuntime, RuntimeConfig  # noqa: E402

BEGIN, END = "<!-- bench:calls:begin -->", "<!-- bench:calls:end -->"
FLOWS_BEGIN, FLOWS_END = "<!-- bench:flows:begin -->", "<!-- bench:flows:end -->"
PERSON_KEY = "bench-person-key"
BIRTH = date(1965, 5, 6)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds user+system, resident bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


#: the flows a caller can take through a booking, as (name, description)
FLOWS = {
    "speech": "by speech, the date then the time",
    "one-answer": "by speech, date and time in one answer",
    "keys": "by keys, each pressed when the prompt ends",
}


def booking_scenario(ticket: str, day: date, index: int, flow: str = "speech") -> dict:
    if flow == "keys":
        turns = [{"press": "1"}, {"press": ticket + "#"}, {"press": BIRTH.strftime("%Y%m%d")},
                 {"press": f"{day.month:02d}{day.day:02d}#"}, {"press": "1000"}, {"press": "1"}]
    else:
        when = [{"say": f"{day.month}月{day.day}日の午前10時でお願いします"}] if flow == "one-answer" else [
            {"say": f"{day.month}月{day.day}日でお願いします"}, {"say": "午前10時でお願いします"}]
        turns = [{"say": "予約をお願いします"}, {"say": "、".join(ticket)}, {"say": "昭和40年5月6日です"}, *when,
                 {"say": "はい、お願いします"}]
    return {"name": f"bench-{flow}-{index}", "caller_id": f"0901{index:07d}", "turns": turns}


def bench_day(today: date) -> date:
    day = today + timedelta(days=20)
    while day.day < 11 or day.day in (14, 20, 24):  # dates whose readings the recognizer gets right
        day += timedelta(days=1)
    return day


#: a ticket number Whisper base heard in every rendering of the caller's voice tried
#: (tests/e2e/test_calls.py): the flows time the dialog, not the recognizer's misses on digits
FLOW_TICKET = "4732539747"


def fresh_ticket() -> str:
    return str(3_000_000_000 + uuid.uuid4().int % 999_999_999)


async def run_round(sim: CallerSimulator, factory, n: int, day: date, serve_pid: int, flow: str = "",
                    transcripts: Path | None = None) -> dict:
    """`flow`: one call of that flow with FLOW_TICKET, whose booking is cancelled afterwards so that
    the next call of a flow can book again; none: N calls by speech with fresh random tickets."""
    tickets = [FLOW_TICKET] if flow else [fresh_ticket() for _ in range(n)]
    cpu0, rss0 = proc_usage(serve_pid)
    started = time.monotonic()
    results = await asyncio.gather(*(
        sim.call(parse_scenario(booking_scenario(t, day, i, flow or "speech"))) for i, t in enumerate(tickets)))
    wall = time.monotonic() - started
    cpu1, rss1 = proc_usage(serve_pid)
    booked = []
    for ticket, result in zip(tickets, results):
        person = Person.from_ticket(PERSON_KEY.encode(), ticket, BIRTH)
        found = run_in_transaction(factory, store.find_active_booking, person, "vaccine")
        booked.append(found is not None)
        if flow and found is not None:
            run_in_transaction(factory, store.cancel, found.code, channel="staff", now=datetime.now(UTC))
    latencies = [lat for r in results for lat in r.latencies]
    durations = [r.duration for r, ok in zip(results, booked) if ok]
    if transcripts is not None:  # what each call heard and said, timed, to see where a flow's time goes
        with transcripts.open("a", encoding="utf-8") as out:
            for result in results:
                out.write(json.dumps({"flow": flow or "speech", "latencies": result.latencies, "lines": [
                    [line.at, line.side, mask(line.text)] for line in result.lines]}, ensure_ascii=False) + "\n")
    return {
        "calls": n, "completed": sum(booked), "wall": wall,
        "p50": percentile(latencies, 0.5) if latencies else float("nan"),
        "p95": percentile(latencies, 0.95) if latencies else float("nan"),
        "duration": statistics.median(durations) if durations else float("nan"),
        "durations": durations, "latencies": latencies, "cpu_per_call": (cpu1 - cpu0) / n, "rss_mb": rss1 / 2**20, "rss_growth_per_call": (rss1 - rss0) / n / 2**20,
        "errors": [e for r in results for e in r.errors],
    }


async def bench(rounds: list[int], workdir: Path, flows: list[str], repeat: int,
                prompt_gap: float) -> tuple[list[dict], dict]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    tz_today = datetime.now(Settings(timezone="Asia/Tokyo").tz).date()
    day = bench_day(tz_today)
    spec = BatchSpec(service="vaccine", site="市民会館", date_from=day, date_to=day, times=("10:00-10:30",),
                     every_minutes=30, capacity=sum(rounds) + len(flows) * repeat + 1, timezone="Asia/Tokyo")
    run_in_transaction(factory, store.release_batch, spec, actor="bench", now=datetime.now(UTC))

    secret = uuid.uuid4().hex
    ami_port, audiosocket = free_port(), f"127.0.0.1:{free_port()}"
    asterisk = AsteriskRuntime(RuntimeConfig(
        ami_user="madoguchi-bench", ami_secret=secret, instance=f"bench-{os.getpid()}", ami_port=ami_port,
        sip_bind=f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}", audiosocket=audiosocket, test_context=True))
    asterisk.up()
    env = {**os.environ, "MADOGUCHI_DB": url, "MADOGUCHI_HTTP": f"127.0.0.1:{free_port()}",
           "MADOGUCHI_AUDIOSOCKET": audiosocket, "MADOGUCHI_AMI": f"127.0.0.1:{ami_port}",
           "MADOGUCHI_AMI_USER": "madoguchi-bench", "MADOGUCHI_AMI_SECRET": secret,
           "MADOGUCHI_PERSON_KEY": PERSON_KEY, "MADOGUCHI_MODELS_DIR": str(ROOT / "asr_models"),
           "MADOGUCHI_PROMPT_CACHE_DIR": str(workdir / "prompts"),
           "MADOGUCHI_DIALOG_SCRIPT": str(ROOT / "dialogs" / "scripts" / "vaccine.yaml"), "MADOGUCHI_LOG_LEVEL": "WARNING"}
    log = (workdir / "serve.log").open("wb")
    serve = subprocess.Popen([str(Path(sys.executable).with_name("ivr")), "serve"], env=env, stdout=log,
                             stderr=subprocess.STDOUT, cwd=workdir)
    # the simulator originates: the test runtime's caller user (the IVR's own user may not)
    ami = AmiClient("127.0.0.1", ami_port, caller_ami_user("madoguchi-bench"), secret)
    sim = None
    try:
        await ami.start()
        if not await ami.wait_connected(timeout=20):
            raise RuntimeError("AMI login failed")
        host, port = audiosocket.split(":")
        for _ in range(600):  # the IVR loads Whisper and Open JTalk before it listens
            try:
                with socket.create_connection((host, int(port)), timeout=1):
                    break
            except OSError:
                if serve.poll() is not None:
                    raise RuntimeError(f"ivr serve exited: {(workdir / 'serve.log').read_text()[-2000:]}")
                await asyncio.sleep(0.2)
        settings = Settings(prompt_cache_dir=workdir / "caller-prompts")
        sim = CallerSimulator(ami, lambda v: load_synthesizer(settings, voice=Voice(
            speed=v.speed, half_tone=v.half_tone, volume_dbfs=v.level_dbfs)), config=SimulatorConfig(call_timeout=240, prompt_gap=prompt_gap))
        await sim.start()
        # one warm-up call renders the IVR's prompts into its cache, as a running service would have
        await run_round(sim, factory, 1, day, serve.pid)
        rows = [await run_round(sim, factory, n, day, serve.pid) for n in rounds]
        transcripts = workdir / "flows.jsonl"
        transcripts.unlink(missing_ok=True)
        by_flow = {flow: [await run_round(sim, factory, 1, day, serve.pid, flow, transcripts) for _ in range(repeat)]
                   for flow in flows}
        await asyncio.sleep(2)  # the last call records land
        with factory() as session:
            outcomes = dict(session.execute(text(
                "SELECT outcome, count(*) FROM call_records GROUP BY outcome ORDER BY 2 DESC")).all())
        return rows, {"load": os.getloadavg()[0], "outcomes": outcomes, "flows": by_flow, "prompt_gap": prompt_gap}
    finally:
        if sim is not None:
            await sim.close()
        await ami.close()
        serve.terminate()
        serve.wait(30)
        asterisk.down()
        engine.dispose()


def render(rows: list[dict], extra: dict, command: str) -> str:
    lines = [
        "## Calls end to end (integration)", "",
        f"`{command}` on {platform.machine()} with {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}: N "
        "simultaneous booking calls by speech (menu, ticket number, birth date, date, time, read-back, yes) "
        "through the real Asterisk 22 into `ivr serve` (Whisper base, Open JTalk, SQLite), placed by the caller "
        "simulator after one warm-up call. Latency is what the caller hears: from the end of its own speech "
        "to the first audio of the IVR's reply (recognition, dialog, store, synthesis). CPU and memory are "
        "the `ivr serve` process's (`/proc`), per call in the round; the 1-minute load average "
        f"after the run was {extra['load']:.1f} (the machine is shared).", "",
        "| calls | completed | reply latency p50 (s) | p95 (s) | booking call median (s) | CPU s / call | RSS (MiB) | RSS growth / call (MiB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['calls']} | {r['completed']}/{r['calls']} | {r['p50']:.2f} | {r['p95']:.2f} | "
                     f"{r['duration']:.1f} | {r['cpu_per_call']:.1f} | {r['rss_mb']:.0f} | {r['rss_growth_per_call']:.1f} |")
    outcomes = ", ".join(f"{name} {count}" for name, count in extra.get("outcomes", {}).items())
    lines += ["", f"Outcomes of every call in the run (warm-up included), from the call records: {outcomes}. A call "
              "that does not complete ended with the operators (`transferred`: the IVR hands over when it "
              "cannot understand an answer twice); none was left in silence or lost."]
    return "\n".join(lines)


def render_flows(flows: dict[str, list[dict]], extra: dict, command: str) -> str:
    lines = [
        "### How long a booking takes, per flow", "",
        f"`{command}` on {platform.machine()} with {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}: one call "
        "at a time through the real Asterisk 22 into `ivr serve`, the caller simulator answering when each prompt "
        f"ends (it takes {extra['prompt_gap']:g} s of quiet as a prompt's end, as bench/peak.py does; a quiet "
        "that long inside a prompt is barged into, as a resident would), from answer to the "
        "IVR's hang-up, the booking code read twice in every call. Every call uses a ticket number Whisper base "
        "hears (its booking is cancelled after each call), so the figures time the dialog, not the recognizer's "
        f"misses on digits. The 1-minute load average after the run was {extra['load']:.1f} (the machine is "
        "shared). Target: a median booking under 60 s. *Reply latency*: from the end of a spoken answer to the "
        "first audio of the reply; a reply that began before the caller had finished (the IVR takes 「はい、」 as the "
        "answer at the pause before 「お願いします」) is not timed.", "",
        "| flow | booked | booking call median (s) | min / max (s) | reply latency p50 / p95 (s) |", "|---|---|---|---|---|"]
    for flow, runs in flows.items():
        durations = [d for r in runs for d in r["durations"]]
        spread = f"{min(durations):.1f} / {max(durations):.1f}" if durations else "-"
        median = f"{statistics.median(durations):.1f}" if durations else "-"
        replies = [lat for r in runs for lat in r["latencies"]]  # every timed answer of the flow's calls
        reply = f"{percentile(replies, 0.5):.2f} / {percentile(replies, 0.95):.2f}" if replies else "-"
        lines.append(f"| {FLOWS[flow]} | {len(durations)}/{len(runs)} | {median} | {spread} | {reply} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default="1,2,4", help="comma-separated N per round")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/madoguchi-bench-calls"))
    parser.add_argument("--flows", default="", help=f"comma-separated flows timed one call at a time: {', '.join(FLOWS)}")
    parser.add_argument("--repeat", type=int, default=3, help="calls per flow")
    parser.add_argument("--prompt-gap", type=float, default=0.7,
                        help="seconds of quiet the simulated caller takes as the end of a prompt")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    flows = [f for f in args.flows.split(",") if f]
    if unknown := set(flows) - set(FLOWS):
        parser.error(f"unknown flows {sorted(unknown)}; known: {', '.join(FLOWS)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    for stale in args.workdir.glob("bench.db*"):
        stale.unlink()
    rounds = [int(n) for n in args.calls.split(",") if n]
    rows, extra = asyncio.run(bench(rounds, args.workdir, flows, args.repeat, args.prompt_gap))
    command = shlex.join(["python", "bench/calls.py", *(argv if argv is not None else sys.argv[1:])])
    doc = ROOT / "docs" / "BENCHMARKS.md"
    if rows:
        text = render(rows, extra, command)
        print(text)
        if args.write:
            replace_section(doc, BEGIN, END, text)
    if flows:
        text = render_flows(extra["flows"], extra, command)
        print(text)
        if args.write:
            replace_section(doc, FLOWS_BEGIN, FLOWS_END, text)
    for r in rows + [r for runs in extra["flows"].values() for r in runs]:
        for error in r["errors"]:
            print("!", error)


if __name__ == "__main__":
    main()
