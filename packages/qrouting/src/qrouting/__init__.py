"""qrouting."""
