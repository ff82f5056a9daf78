"""One phone call in parts: `listener` hears the caller, `dialog` drives the dialog engine, and
`ivr.session` runs the call (engine actions, store calls, hand-over, records). `ports` names what
each part is given."""
