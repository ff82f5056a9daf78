"""Madoguchi: the voice-reservation application (call sessions, speech, API, CLI)."""
