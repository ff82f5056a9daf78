"""A simulated call as text: the timed transcript and a one-line verdict."""

from __future__ import annotations

from ivr.simulator.caller import CallResult, Line


def format_line(line: Line) -> str:
    minutes, seconds = divmod(line.at, 60)
    return f"{int(minutes):02d}:{seconds:05.2f}  {line.side:<6}  {line.text}"


def format_result(result: CallResult) -> str:
    lines = [f"# {result.scenario}"]
    lines += [format_line(line) for line in result.lines]
    for number, expected, heard, met in result.expectations:
        if not met:
            lines.append(f"! turn {number}: expected the IVR to say {expected!r}, heard {heard!r}")
    lines += [f"! {error}" for error in result.errors]
    latency = f", reply latency median {sorted(result.latencies)[len(result.latencies) // 2]:.2f} s" if result.latencies else ""
    queue = f", waiting in queue {result.queue}" if result.queue else ""
    lines.append(f"= {'ok' if result.ok else 'FAILED'}: {result.duration:.1f} s, ended by {result.ended_by or '?'}"
                 f"{queue}{latency}" + (f", recorded to {result.wav}" if result.wav else ""))
    return "\n".join(lines)
