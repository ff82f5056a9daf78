"""`ivr nlu`: one value as JSON, or one JSON object per stdin line."""

import json

import pytest
from click.testing import CliRunner

from ivr.cli import cli


@pytest.mark.parametrize(
    ("kind", "text", "output"),
    [
        ("date", "来週の水曜日", '"2026-12-02"'),
        ("date", "えーと", "null"),
        ("time", "午後2時半", '"14:30"'),
        ("time", "14時30分", '"14:30"'),
        ("digits", "接種検番号は 1234 5678 90 です", '"1234567890"'),
        ("yesno", "はい、お願いします", "true"),
        ("yesno", "いえ、結構です", "false"),
        ("yesno", "もう一度", "null"),
        ("birthdate", "昭和40年5月6日", '"1965-05-06"'),
        ("birthdate", "平成35年1月1日", "null"),
        ("time", "十字でお願いいします", '"10:00"'),  # by sound: Whisper's homophone of 十時
        ("date", "朝って", '"2026-11-27"'),
        ("digits", "ちょっと待ってください", "null"),
        ("birthdate", "しょうわ よんじゅう ねん ご がつ むいか", '"1965-05-06"'),
    ],
)
def test_one_value(kind, text, output):
    result = CliRunner().invoke(cli, ["nlu", "--type", kind, "--today", "2026-11-25", text])
    assert result.exit_code == 0, result.output
    assert result.stdout == output + "\n"


def test_stdin_one_object_per_line():
    lines = "明日\nえーと\n１２月３日です\n"
    result = CliRunner().invoke(cli, ["nlu", "--type", "date", "--today", "2026-11-25"], input=lines)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        '{"text": "明日", "value": "2026-11-26"}',
        '{"text": "えーと", "value": null}',
        '{"text": "１２月３日です", "value": "2026-12-03"}',
    ]
    assert [json.loads(line)["value"] for line in result.stdout.splitlines()] == ["2026-11-26", None, "2026-12-03"]


def test_bad_arguments_are_clear_errors():
    runner = CliRunner()
    bad_day = runner.invoke(cli, ["nlu", "--type", "date", "--today", "25/11/2026", "明日"])
    assert bad_day.exit_code == 2 and "expected YYYY-MM-DD" in bad_day.output
    bad_kind = runner.invoke(cli, ["nlu", "--type", "colour", "--today", "2026-11-25", "赤"])
    assert bad_kind.exit_code == 2 and "colour" in bad_kind.output
