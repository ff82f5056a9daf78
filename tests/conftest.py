"""Shared fixtures: database URLs for the two supported databases."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.fixtures.asterisk"]  # the real Asterisk: `asterisk` fixture

POSTGRES_URL = os.environ.get("MADOGUCHI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'madoguchi.db'}"


@pytest.fixture
def postgres_url() -> str:
    return POSTGRES_URL
