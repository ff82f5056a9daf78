"""Tests of telephony/: framing, the AMI client, and calls through a real Asterisk."""
