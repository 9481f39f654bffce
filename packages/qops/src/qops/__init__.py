"""qops."""
