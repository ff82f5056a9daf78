"""The caller simulator's pure parts: scenario files and the prompt tracker."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ivr.simulator.prompts import PromptEnded, PromptStarted, PromptTracker
from ivr.simulator.scenario import ScenarioError, expand_days, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 24)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path):
    scenario = load_scenario(path, today=TODAY)
    assert scenario.turns and scenario.caller_id.isdigit()


def test_relative_days_are_expanded():
    assert expand_days("{tomorrow:%m%d}#", TODAY) == "1125#"
    assert expand_days("{today+7:%-m月%-d日}", TODAY) == "12月1日"
    scenario = parse_scenario({"turns": [{"press": "{today+3:%m%d}#"}]}, today=TODAY)
    assert scenario.turns[0].value == "1127#"


def test_leave_queue_names_the_queue():
    turn = parse_scenario({"turns": [{"leave_queue": "madoguchi-line"}]}).turns[0]
    assert (turn.action, turn.value) == ("leave_queue", "madoguchi-line")


@pytest.mark.parametrize("turns, message", [
    ([], "non-empty"),
    ([{"say": "はい", "press": "1"}], "exactly one"),
    ([{"press": "12x"}], "keys 0-9"),
    ([{"silence": -1}], "seconds"),
    ([{"say": "はい", "after": "later"}], "after"),
    ([{"say": "はい", "after": "now", "expect": "x"}], "whole prompt"),
    ([{"hangup": "yes"}], "true"),
    ([{"shout": "x"}], "exactly one"),
    ([{"leave_queue": ""}], "queue name"),
    ([{"leave_queue": "madoguchi-line", "after": "now"}], "takes no"),
])
def test_bad_scenarios_name_the_turn(turns, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({"turns": turns}, file="bad.yaml")


def test_relative_days_need_today():
    with pytest.raises(ScenarioError, match="today"):
        parse_scenario({"turns": [{"press": "{tomorrow:%m%d}"}]})


def test_unreadable_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("turns: [\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(tmp_path / "bad.yaml")


def test_prompt_tracker_splits_prompts_on_a_long_gap():
    voice, quiet = b"\x00\x20" * 160, bytes(320)
    tracker = PromptTracker(gap=0.5)
    seen = []
    t = 0.0
    for frame in [quiet] * 5 + [voice] * 10 + [quiet] * 10 + [voice] * 5 + [quiet] * 30 + [voice] * 3 + [quiet] * 30:
        event = tracker.feed(frame, t)
        if event is not None:
            seen.append(event)
        t += 0.02
    assert [type(e) for e in seen] == [PromptStarted, PromptEnded, PromptStarted, PromptEnded]
    first = seen[1]
    assert first.start == pytest.approx(0.10) and first.end == pytest.approx(0.60)  # a short pause stays inside
    assert len(first.pcm) == 25 * 320
    assert tracker.flush() is None
