"""Durable jobs: the store (rows and leases), the queue (huey), the kinds, the worker."""
