"""Fuzzing the dialog-script checker with broken copies of the shipped scripts: lines deleted,
doubled, swapped, re-indented or cut, values and keys replaced by what staff (or an editor) might
leave there — YAML tags, anchors, complex keys, stray braces, huge numbers. Whatever the text,
`ivr dialogs check` answers with errors that name the file and a line of it, and the step for every
error inside a step; it never raises. (test_script_check.py fuzzes generated step mappings.)
"""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialogs.script import check_script
from ivr.cli import cli

SCRIPTS = Path(__file__).resolve().parents[2] / "dialogs" / "scripts"
SHIPPED = {path.name: path.read_text(encoding="utf-8") for path in sorted(SCRIPTS.glob("*.yaml"))}

VALUES = ["", "~", "{", "}", "予約は{code", "{date}です}", "{0}", "{:>}", "!foo bar", "!!python/name:os.system",
          "!!int abc", "!!binary ===", "[a, {b: c}]", "{a: 1, next: x}", ".inf", "-.inf", ".nan", "-1", "0",
          "99999999999999999999", "yes", "no", "'unterminated", '"\\x"', "&anchor hangup", "*anchor", "*nowhere",
          "hangup", "transfer", "choice", "digits", "greet", "2026-12-01", "!!timestamp 2026-13-45", "|", ">-"]
KEYS = ["say", "ask", "do", "next", "options", "length", "branch", "among", "kind", "steps", "start", "messages",
        "max_failures", "min_confidence", "? [a, b]", "? {a: b}", "[x]", "~", "1", "yes", "Bad-Name", "<<"]


@st.composite
def mutated(draw) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(SHIPPED)))
    lines = SHIPPED[name].splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        indent = line[: len(line) - len(line.lstrip())]
        key, colon, _ = line.strip().partition(":")
        how = draw(st.sampled_from(["delete", "double", "swap", "value", "key", "indent", "cut", "insert"]))
        if how == "delete":
            del lines[i]
        elif how == "double":
            lines.insert(i, line)
        elif how == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif how == "value" and colon:
            lines[i] = f"{indent}{key}: {draw(st.sampled_from(VALUES) | st.text(max_size=6))}"
        elif how == "key" and colon:
            lines[i] = f"{indent}{draw(st.sampled_from(KEYS))}:{line.partition(':')[2]}"
        elif how == "indent":
            lines[i] = draw(st.sampled_from(["", "  ", "    ", "\t"])) + line.lstrip()
        elif how == "cut":
            lines = lines[:i] + [line[: draw(st.integers(0, len(line)))]]
        elif how == "insert":
            lines.insert(i, f"{indent}{draw(st.sampled_from(KEYS))}: {draw(st.sampled_from(VALUES))}")
    return name, "\n".join(lines) + "\n"


def step_lines(text: str) -> dict[str, range]:
    """The lines each step's block covers, when the text composes as YAML with a steps mapping."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(root, yaml.MappingNode):
        return {}
    lines = text.splitlines()

    def last_line(end: yaml.Mark) -> int:  # a block ends where the next token starts: maybe past blanks
        ends_inside = end.line < len(lines) and lines[end.line][: end.column].strip()
        return end.line + 1 if ends_inside else end.line

    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "steps" and isinstance(value, yaml.MappingNode):
            return {str(k.value): range(k.start_mark.line + 1, last_line(v.end_mark) + 1)
                    for k, v in value.value if isinstance(k, yaml.ScalarNode)}
    return {}


def assert_located(path: Path, text: str) -> list:
    errors = check_script(path)
    last_line = text.count("\n") + 1
    blocks = step_lines(text)
    for error in errors:
        assert error.file == str(path) and error.message, error
        assert isinstance(error.line, int) and 1 <= error.line <= last_line, (str(error), last_line)
        assert str(error).startswith(f"{path}:{error.line}: "), str(error)
        inside = [name for name, lines in blocks.items() if error.line in lines]
        if inside and error.step is None:
            raise AssertionError(f"an error inside step {inside} does not name it: {error}")
    return errors


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_a_broken_script_gets_located_errors_never_a_traceback(tmp_path_factory, case):
    name, text = case
    path = tmp_path_factory.mktemp("fuzz", numbered=True) / name
    path.write_text(text, encoding="utf-8")
    assert_located(path, text)
    result = CliRunner().invoke(cli, ["dialogs", "check", str(path)])
    assert result.exit_code in (0, 1) and (result.exception is None or isinstance(result.exception, SystemExit)), \
        result.output


def test_what_the_fuzzer_found_is_reported_not_raised(tmp_path):
    good = SHIPPED["vaccine.yaml"]
    cases = {
        "brace.yaml": good.replace("say: ", "say: 予約は{code", 1),
        "tag.yaml": good.replace("say: ", "say: !foo ", 1),
        "complex_key.yaml": good.replace("steps:", "? [a, b]\n: c\nsteps:", 1),
        "inf.yaml": good.replace("steps:", "max_failures: .inf\nsteps:", 1),
        "empty.yaml": "",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert assert_located(path, text), name
