"""The running service's processes: worker supervision (`workers`) and the event pipe between a
worker and its parent (`event_pipe`). `ivr serve` (ivr/commands/serve.py) wires them."""
