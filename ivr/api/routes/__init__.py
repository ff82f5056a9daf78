"""One router per resource; the app factory mounts them under `/api/v1` (health and metrics at /)."""
