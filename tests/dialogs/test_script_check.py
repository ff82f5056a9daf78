"""`ivr dialogs check` and the script loader: broken scripts rejected with file, line and step."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from dialogs.script import ScriptError, check_script, load_script
from ivr.cli import cli

SCRIPTS = Path(__file__).resolve().parents[2] / "dialogs" / "scripts"

GOOD = """\
name: tiny
service: vaccine
start: greet
steps:
  greet:
    say: こんにちは。
    next: menu
  menu:
    say: 予約は1、オペレーターは0を押してください。
    ask: choice
    options:
      book: {words: [予約], key: "1"}
    next: {book: ask_ok}
  ask_ok:
    say: よろしいですか。
    ask: yesno
    next: {yes: bye, no: menu}
  bye:
    say: 失礼いたします。
    do: hangup
"""

# (name, replace this, with this, expected line, expected step, expected message part)
BROKEN = [
    ("unknown step", "next: menu", "next: mneu", 7, "greet", "unknown step 'mneu'"),
    ("missing outcome", "next: {yes: bye, no: menu}", "next: {yes: bye}", 17, "ask_ok", "missing outcome 'no'"),
    ("unknown outcome", "next: {book: ask_ok}", "next: {book: ask_ok, maybe: bye}", 13, "menu", "unknown outcome 'maybe'"),
    ("single next missing", "    next: menu\n", "", 4 + 1, "greet", "missing outcome"),
    ("unreachable", "next: {yes: bye, no: menu}", "next: {yes: menu, no: menu}", 18, "bye", "unreachable step"),
    ("placeholder", "say: 失礼いたします。", "say: 予約番号は{code}です。", 19, "bye", "placeholder '{code}' has no value"),
    ("unknown ask kind", "ask: yesno", "ask: colour", 16, "ask_ok", "unknown input kind 'colour'"),
    ("unknown op", "do: hangup", "do: explode", 20, "bye", "unknown store action 'explode'"),
    ("option without key", 'book: {words: [予約], key: "1"}', "book: {words: [予約]}", 12, "menu", "has no keypad key"),
    ("operator key", 'book: {words: [予約], key: "1"}', 'book: {words: [予約], key: "0"}', 12, "menu", "operator key 0"),
    ("button label too long", 'book: {words: [予約], key: "1"}', 'book: {words: [予約], key: "1", label: ' + "予" * 17 + "}",
     12, "menu", "'label' must be a button text"),
    ("terminal with next", "    do: hangup\n", "    do: hangup\n    next: greet\n", 21, "bye", "ends the call"),
    ("unknown field", "    ask: yesno\n", "    ask: yesno\n    colour: red\n", 17, "ask_ok", "unknown field 'colour'"),
    ("digits without length", "ask: yesno\n    next: {yes: bye, no: menu}", "ask: digits\n    store_as: n\n    next: bye",
     16, "ask_ok", "needs 'length'"),
    ("op needs a value", "    ask: yesno\n    next: {yes: bye, no: menu}",
     "    do: confirm\n    next: {ok: bye, expired: bye, already_booked: bye}", 16, "ask_ok",
     "needs a value 'hold'"),
    ("two kinds in a step", "    ask: yesno\n", "    ask: yesno\n    do: hangup\n", 16, "ask_ok", "at most one of"),
    ("step not a mapping", "  bye:\n    say: 失礼いたします。\n    do: hangup\n", "  bye: 失礼いたします\n", 18, "bye",
     "must be a mapping"),
    ("bad step name", "  ask_ok:", "  Ask-OK:", 14, "Ask-OK", "lower-case"),
    ("menu without the operator key", "予約は1、オペレーターは0を押してください。", "予約は1を押してください。", 9,
     "menu", "which key reaches an operator"),
    ("branch without value", "    ask: yesno\n    next: {yes: bye, no: menu}", "    branch: mode\n    next: {book: bye}",
     16, "ask_ok", "needs a value 'mode'"),
]


def write(tmp_path, text, name="script.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_script_loads(tmp_path):
    script = load_script(write(tmp_path, GOOD))
    assert list(script.steps) == ["greet", "menu", "ask_ok", "bye"]
    assert script.steps["ask_ok"].next == {"yes": "bye", "no": "menu"}  # bare yes/no are not booleans


@pytest.mark.parametrize(("name", "old", "new", "line", "step", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_script(tmp_path, name, old, new, line, step, message):
    assert old in GOOD, name
    path = write(tmp_path, GOOD.replace(old, new, 1))
    errors = check_script(path)
    matching = [e for e in errors if message in e.message]
    assert matching, [str(e) for e in errors]
    error = matching[0]
    assert (error.file, error.line, error.step) == (str(path), line, step)
    assert str(error).startswith(f"{path}:{line}: step '{step}': ")
    with pytest.raises(ScriptError) as raised:
        load_script(path)
    assert any(message in e.message for e in raised.value.errors)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: x\nsteps:\n  a: [unclosed\n", 3, "bad YAML"),
        ("name: x\nservice: y\nstart: a\nsteps:\n  a:\n    say: 'oops\n", None, "bad YAML"),
        ("- just\n- a list\n", 1, "must be a mapping"),
        ("name: x\nstart: a\nsteps: {a: {say: hi, do: hangup}}\n", 1, "missing field 'service'"),
        ("name: x\nservice: y\nstart: nowhere\nsteps: {a: {say: hi, do: hangup}}\n", 3, "unknown step 'nowhere'"),
        ("name: x\nservice: y\nstart: a\ncolour: red\nsteps: {a: {say: hi, do: hangup}}\n", 4, "unknown field 'colour'"),
        ("name: x\nservice: y\nstart: a\nmax_failures: two\nsteps: {a: {say: hi, do: hangup}}\n", 4,
         "'max_failures' must be a number"),
        ("name: x\nservice: y\nstart: a\nmax_failures: 0\nsteps: {a: {say: hi, do: hangup}}\n", 4, "at least 1"),
        ("name: x\nservice: y\nstart: a\nmin_confidence: 2\nsteps: {a: {say: hi, do: hangup}}\n", 4,
         "between 0 and 1"),
        ("name: x\nservice: y\nstart: a\nmessages: hello\nsteps: {a: {say: hi, do: hangup}}\n", 4,
         "'messages' must be a mapping"),
        ("name: x\nservice: y\nstart: a\non_silence: shout\nsteps: {a: {say: hi, do: hangup}}\n", 4,
         "on_silence must be"),
    ],
)
def test_broken_file_level(tmp_path, text, line, message):
    errors = check_script(write(tmp_path, text))
    assert any(message in e.message for e in errors), [str(e) for e in errors]
    if line is not None:
        assert any(e.line == line for e in errors if message in e.message)


def test_missing_file(tmp_path):
    errors = check_script(tmp_path / "nope.yaml")
    assert errors and "cannot read" in errors[0].message


def test_shipped_scripts_are_valid():
    for path in SCRIPTS.glob("*.yaml"):
        assert check_script(path) == [], path


def test_cli_check_reports_every_error_and_fails(tmp_path):
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, GOOD.replace("next: menu", "next: mneu").replace("do: hangup", "do: explode"), "bad.yaml")
    result = CliRunner().invoke(cli, ["dialogs", "check", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{good}: ok (4 steps)" in result.stdout
    assert f"{bad}:7: step 'greet': unknown step 'mneu'" in result.stderr
    assert f"{bad}:20: step 'bye': unknown store action 'explode'" in result.stderr


def test_cli_check_shipped_scripts():
    result = CliRunner().invoke(cli, ["dialogs", "check", *map(str, sorted(SCRIPTS.glob("*.yaml")))])
    assert result.exit_code == 0, result.output
    assert "vaccine.yaml: ok" in result.stdout and "checkup.yaml: ok" in result.stdout


def test_the_real_command_on_the_broken_examples():
    """`ivr dialogs check tests/dialogs/broken/*.yaml`: every message, exactly (golden file)."""
    import shutil
    import subprocess
    import sys

    broken = Path(__file__).resolve().parent / "broken"
    ivr = shutil.which("ivr", path=str(Path(sys.executable).parent)) or "ivr"
    files = sorted(p.name for p in broken.glob("*.yaml"))
    result = subprocess.run([ivr, "dialogs", "check", *files], cwd=broken, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == (broken / "expected.txt").read_text(encoding="utf-8").splitlines()


def _any_value():
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 30), st.text(max_size=8),
                        st.sampled_from(["greet", "bye", "yesno", "choice", "digits", "hold", "date", "{code}"]))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                        max_leaves=8)


def test_no_script_makes_the_checker_raise(tmp_path_factory):
    """Whatever staff write, the checker answers with located errors, never a traceback."""
    import yaml
    from hypothesis import given, settings
    from hypothesis import strategies as st

    fields = st.sampled_from(["say", "ask", "do", "branch", "next", "length", "options", "store_as", "among",
                              "reprompt", "hints", "kind", "interruptible"])
    step = st.dictionaries(fields, _any_value(), max_size=5)
    steps = st.dictionaries(st.sampled_from(["greet", "bye", "menu", "x1"]), step, min_size=1, max_size=3)
    path = tmp_path_factory.mktemp("fuzz") / "script.yaml"

    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(steps)
    def check(generated):
        document = {"name": "fuzz", "service": "vaccine", "start": "greet", "steps": generated}
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        for error in check_script(path):
            assert isinstance(error, ScriptError) and error.file == str(path) and error.message

    check()
