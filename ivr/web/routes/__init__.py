"""One router per page; `ivr.web.install` mounts them all."""
