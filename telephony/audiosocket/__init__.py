"""AudioSocket: the audio connection between Asterisk and the IVR."""
