"""The caller simulator: a scripted resident who phones the line through a real Asterisk.

`scenario` reads scenario files (pure), `voice` synthesizes the caller's speech, `prompts` tracks
when the IVR is talking (pure), `caller` places the call and plays the scenario, `transcript`
formats what both sides said.
"""
