"""`ivr eval understanding`: the classification of engine turns (pure) and a small real run (models)."""

from __future__ import annotations

import json
from datetime import date, time

import pytest

from dialogs.messages import CheckOperators, Listen, Say, StoreCall
from dialogs.script import load_script
from ivr import understanding_eval as ue

SCRIPT = load_script(ue.SCRIPT_PATH)
D3 = date(2026, 12, 3)


def turn(step, actions, values=None, entered=()):
    return ue.read_turn(SCRIPT, step, actions, values or {}, entered)


@pytest.mark.parametrize(
    ("step", "actions", "values", "entered", "act", "value"),
    [
        # the date accepted: the engine goes on to find_available with it
        ("date", [StoreCall("find_available", {"date": "2026-12-03"})], {"date": D3}, ("find",), "accept", D3),
        # a time accepted (offered: hold; not offered: time_full) is the time the engine stored
        ("time", [StoreCall("hold", {"slot_id": 4})], {"time": time(14, 30)}, ("hold",), "accept", time(14, 30)),
        ("time", [Say("午後三時は空きがありません。"), Listen("time")], {"time": time(15)}, ("time_full",), "accept", time(15)),
        ("ticket", [Say("生年月日をどうぞ。"), Listen("birthdate")], {"ticket": "1234567890"}, ("birthdate",),
         "accept", "1234567890"),
        ("birthdate", [Say("ご希望の日にちと時間をどうぞ。"), Listen("date")], {"birthdate": date(1950, 3, 4)},
         ("route", "date"), "accept", date(1950, 3, 4)),
        ("menu", [Say("接種券番号をどうぞ。"), Listen("digits")], {"mode": "cancel"}, ("ticket",), "accept", "cancel"),
        # yes / no by the step entered next
        ("readback", [StoreCall("confirm")], {}, ("confirm",), "accept", True),
        ("readback", [Say("日にちの変更は1…"), Listen("choice")], {}, ("change",), "accept", False),
        # a confirmation question: a readback Say, then a yes/no Listen, at the same step
        ("date", [Say("十二月三日ですね。", kind="readback"), Listen("yesno", hints=("はい", "いいえ"))], {}, (),
         "confirm", None),
        # asked again, the keypad, a hand-over, back to the menu
        ("date", [Say("恐れ入ります。12月3日…"), Listen("date")], {}, (), "reprompt", None),
        ("readback", [Say("恐れ入ります、もう一度…", kind="readback"), Listen("yesno")], {}, (), "reprompt", None),
        ("time", [Say("ボタンで…"), Listen("time", keypad=True)], {}, (), "keypad", None),
        ("date", [CheckOperators()], {}, (), "operator", None),
        ("date", [Say("予約は1…"), Listen("choice")], {}, ("menu",), "restart", None),
    ],
)
def test_read_turn(step, actions, values, entered, act, value):
    got = turn(step, actions, values, entered)
    assert (got.act, got.value) == (act, value)


def test_confirmation_keeps_the_readback_text():
    got = turn("date", [Say("十二月三日ですね。", kind="readback"), Listen("yesno")])
    assert got.said == "十二月三日ですね。"


@pytest.mark.parametrize(
    ("truth", "found", "result"),
    [
        (D3, ue.Turn("accept", D3), ue.CORRECT),
        (D3, ue.Turn("confirm", D3), ue.CONFIRMED),
        (D3, ue.Turn("accept", date(2026, 12, 4)), ue.WRONG),
        (D3, ue.Turn("confirm", date(2026, 12, 4)), ue.WRONG),
        (D3, ue.Turn("reprompt"), ue.MISSED),
        (D3, ue.Turn("keypad"), ue.MISSED),
        (D3, ue.Turn("operator"), ue.MISSED),
        (False, ue.Turn("accept", False), ue.CORRECT),
        (True, ue.Turn("accept", False), ue.WRONG),
        # a non-answer: no value is right; a value or a hand-over is not
        (None, ue.Turn("reprompt"), ue.CORRECT),
        (None, ue.Turn("keypad"), ue.CORRECT),
        (None, ue.Turn("accept", "book"), ue.WRONG),
        (None, ue.Turn("confirm", D3), ue.WRONG),
        (None, ue.Turn("operator"), ue.WRONG),
    ],
)
def test_classify(truth, found, result):
    assert ue.classify(truth, found) == result


def test_the_engine_reaches_every_case_step_with_its_closed_set():
    for case in ue.CASES:
        engine, listen = ue.engine_at(SCRIPT, case)
        assert engine.step == case.step and listen.kind == SCRIPT.steps[case.step].ask
        if case.step == "time":
            assert case.truth is None or case.truth in engine._expected(SCRIPT.steps["time"])
        if case.step == "date" and case.truth is not None:
            assert case.truth in case.closed


def test_a_doubtful_answer_is_confirmed_and_its_value_learned():
    case = next(c for c in ue.CASES if c.text == "しあさって")
    got = ue.engine_turn(SCRIPT, case, ("仕上さって",), 0.5)
    assert got.act == "confirm" and got.value == date(2026, 12, 3)
    assert ue.plain_turn(SCRIPT, case, ("仕上さって",)).act == "reprompt"


def test_the_recognizer_hears_the_steps_words_but_is_never_prompted_with_the_operator_word():
    from dialogs.messages import Listen
    from ivr.listen_hints import OPERATOR_WORD, hints_for

    closed = hints_for(Listen("yesno", ("はい", "いいえ"), 1, grammar=("はい", "いいえ")))
    assert closed.words == ("はい", "いいえ") and OPERATOR_WORD in closed.grammar
    assert hints_for(Listen("digits", ("接種券番号",), 10)).grammar == ()  # free dictation


def test_render_and_write_a_section(tmp_path):
    case = ue.CASES[0]
    records = [
        ue.Record(case, "v", (case.truth,), 0.8, 0.3, ue.Turn("accept", case.truth), ue.Turn("accept", case.truth)),
        ue.Record(case, "v", ("123",), 0.3, 0.3, ue.Turn("reprompt"), ue.Turn("reprompt")),
    ]
    text = ue.render(records, command="ivr eval understanding", meta="here", seconds=60,
                     reference_records=ue.reference(ue.CASES[:2]))
    assert text.startswith(ue.TITLE) and "| **overall** | 2 | **50 %** (1)" in text
    assert "### Line noise −45 dBFS" in text and "by sound 2 of 2 right, plain text 2 of 2" in text
    assert "| v | digits | 一二三四五六七八九〇です | 1234567890 | 123 | 0.30 | missed: reprompt |" in text
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n")
    ue.write_section(text, doc)
    ue.write_section(text.replace("here", "there"), doc)
    assert doc.read_text().count(ue.TITLE) == 1 and "there" in doc.read_text()


@pytest.mark.models
def test_eval_understanding_on_a_small_subset(tmp_path):
    from click.testing import CliRunner

    from ivr.cli import cli

    out = tmp_path / "turns.json"
    result = CliRunner().invoke(
        cli, ["eval", "understanding", "--limit", "2", "--voices", "ojt-1.0,ojt-0.85-low", "--noise-dbfs", "-60",
              "--json-out", str(out)])
    assert result.exit_code == 0, result.output
    assert ue.TITLE in result.output and "### Line noise −60 dBFS" in result.output
    assert "| **overall** | 28 |" in result.output
    turns = json.loads(out.read_text())
    assert len(turns) == 28
    by_sound = sum(t["by_sound"]["result"] in (ue.CORRECT, ue.CONFIRMED) for t in turns)
    plain = sum(t["plain"]["result"] == ue.CORRECT for t in turns)
    assert by_sound >= plain, (by_sound, plain)
