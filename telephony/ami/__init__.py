"""AMI: the Asterisk Manager Interface (protocol and asyncio client)."""
