"""The connections to Asterisk: AudioSocket server, AMI client, Asterisk config."""
