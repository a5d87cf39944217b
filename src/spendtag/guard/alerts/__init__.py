"""Alert delivery: what an alert says (:mod:`.message`), where it goes (:mod:`.channels`), and
delivery in the background with retries (:mod:`.delivery`).

Budgets, forecasts and anomaly detection decide when an alert fires and store the record;
this package only renders and delivers it, and reports each attempt's outcome back.
"""

from __future__ import annotations

from spendtag.guard.alerts.channels import (
    Channel,
    ConsoleChannel,
    DeliveryError,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    channel_from_config,
    mask_url,
    sign,
    verify_signature,
)
from spendtag.guard.alerts.delivery import Dispatcher, ResultCallback
from spendtag.guard.alerts.message import Alert, Contributor, render_json, render_slack, render_subject, render_text

__all__ = [
    "Alert",
    "Channel",
    "ConsoleChannel",
    "Contributor",
    "DeliveryError",
    "Dispatcher",
    "EmailChannel",
    "ResultCallback",
    "SlackChannel",
    "WebhookChannel",
    "channel_from_config",
    "mask_url",
    "render_json",
    "render_slack",
    "render_subject",
    "render_text",
    "sign",
    "verify_signature",
]
