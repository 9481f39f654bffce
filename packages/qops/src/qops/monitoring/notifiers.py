"""Where alerts go: the log, a webhook (httpx), or any callable with ``notify(alert)``."""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from qops.errors import InvalidConfig
from qops.monitoring.alert import Alert
from qops.validation import check_number

__all__ = ["LogNotifier", "Notifier", "RecordingNotifier", "WebhookNotifier"]


class Notifier(Protocol):
    def notify(self, alert: Alert) -> None: ...


class LogNotifier:
    """Logs firing alerts at WARNING (CRITICAL for severity "critical") and resolutions at INFO."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("qops.alerts")

    def notify(self, alert: Alert) -> None:
        if alert.state == "resolved":
            level = logging.INFO
        else:
            level = logging.CRITICAL if alert.severity == "critical" else logging.WARNING
        self.logger.log(level, "%s", alert.summary())


class WebhookNotifier:
    """POSTs each alert as JSON (Alertmanager-like fields) to ``url`` with httpx; a failed
    delivery is logged and counted in ``failures``, never raised into the evaluating loop."""

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidConfig(f"url: expected an http(s) URL, got {url!r}.")
        self.url = url
        self.timeout = check_number("timeout", timeout, low=0.0, low_open=True)
        self._client = client or httpx.Client(timeout=self.timeout)
        self.failures = 0
        self.delivered = 0

    def notify(self, alert: Alert) -> None:
        try:
            response = self._client.post(self.url, json=alert.as_dict())
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.failures += 1
            logging.getLogger("qops.alerts").error("webhook %s failed: %s", self.url, exc)
            return
        self.delivered += 1

    def close(self) -> None:
        self._client.close()


class RecordingNotifier:
    """Keeps every alert in ``alerts`` (for tests and dashboards)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.alerts.append(alert)
