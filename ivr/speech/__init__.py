"""Offline Japanese speech for 8 kHz phone audio: audio helpers, VAD, recognition, synthesis.

Imports no `ivr` module but `ivr.config`; backends are synchronous and called from worker threads.
"""
