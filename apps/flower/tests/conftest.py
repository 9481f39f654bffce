"""Import Flower once with click's deprecation warnings silenced.

flwr 1.41 imports typer, which touches ``click.utils.get_binary_stream`` (deprecated in click
8.3); the workspace runs pytest with ``filterwarnings = error``, so the import itself would
fail collection. The warning is third-party and says nothing about this app.
"""

import os
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="typer")
    warnings.filterwarnings("ignore", message=".*click.*deprecated", category=DeprecationWarning)
    import flwr.app
    import flwr.serverapp  # noqa: F401


# the frozen-prefix cache stays in memory in tests (a test of the disk cache sets its own)
os.environ.setdefault("QFED_CACHE_DIR", "")
