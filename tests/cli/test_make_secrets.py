"""`make run` generates the person key and the AMI secret readable by their owner only (0600)."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_generated_secrets_are_private(tmp_path):
    stale = tmp_path / "ami.secret"
    stale.write_text("0123456789abcdef\n")
    stale.chmod(0o644)  # left by an older `make run`
    subprocess.run(["make", "-s", "-C", str(ROOT), "secrets", f"SECRETS_DIR={tmp_path}", f"PY={sys.executable}"],
                   check=True, capture_output=True, text=True)
    for name in ("person.key", "ami.secret"):
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert len((tmp_path / "person.key").read_text().strip()) == 64
    assert stale.read_text() == "0123456789abcdef\n"  # an existing secret is kept, only its mode fixed
