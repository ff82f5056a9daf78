"""The HTTP API: `create_app(settings, ...)` builds it; one router per resource under `routes/`."""
