"""Engines shared by the commands: each does one kind of edit over the session's parsed files."""
