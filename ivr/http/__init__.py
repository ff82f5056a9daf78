"""What the API (`ivr.api`) and the dashboard (`ivr.web`) share, below both: transactions on the
app's store, the app's clock, the request body limit. The app factory (`ivr.app`) joins the two."""

MACHINE_PATHS = ("/api/", "/metrics", "/healthz")  # answered to programs (JSON or text), never as pages
