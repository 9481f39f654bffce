"""Import Flower once with click's import-time deprecation warnings silenced (flwr 1.41 with
click 8.3; third-party, and fatal under pytest's filterwarnings=error)."""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="typer")
    warnings.filterwarnings("ignore", message=".*click.*deprecated", category=DeprecationWarning)
    import flwr.app
    import flwr.serverapp  # noqa: F401
