"""qservice: QuantumFlow's HTTP service over every package.

Durable jobs (SQLAlchemy store, huey queue, leased workers), model serving, a dashboard.
``qservice.Client`` is the Python client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from qservice.client import Client, ServiceCallError


def __getattr__(name: str) -> Any:
    # the client needs only httpx: importing it does not import the server's dependencies
    if name in ("Client", "ServiceCallError"):
        from qservice import client

        return getattr(client, name)
    raise AttributeError(f"module 'qservice' has no attribute {name!r}")


__all__ = ["Client", "ServiceCallError", "__version__"]
