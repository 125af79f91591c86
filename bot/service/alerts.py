"""Telling a person when something went wrong: a webhook and/or a direct message, once each
(and once more when it is over: the instance or the token works again)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import requests

from bot import __version__
from bot.service.logs import redact

logger = logging.getLogger(__name__)


class Alerter:
    def __init__(
        self,
        *,
        webhook: str | None,
        direct_message_to: str | None,
        send_direct_message: Callable[[str], None] | None,
        already_alerted: Callable[[str], bool],
        remember: Callable[[str, str], None],
        timeout: float = 10.0,
    ) -> None:
        self.webhook = webhook
        self.direct_message_to = direct_message_to
        self.send_direct_message = send_direct_message
        self.already_alerted = already_alerted
        self.remember = remember
        self.timeout = timeout

    @property
    def enabled(self) -> bool:
        return bool(self.webhook or (self.direct_message_to and self.send_direct_message))

    def alert(self, subject: str, kind: str, message: str, *, once: bool = True) -> None:
        """`subject` is what the alert is about (an occurrence key, "instance" or "token"):
        alerted once, until it recovers. `once=False` is for the news that it has recovered."""
        if not self.enabled or (once and self.already_alerted(subject)):
            return
        text = redact(message)
        delivered = []
        if self.webhook:
            body = {
                "source": f"campaign-bot/{__version__}",
                "kind": kind,
                "subject": subject,
                "message": text,
            }
            try:
                response = requests.post(
                    self.webhook,
                    data=json.dumps(body),
                    headers={"Content-Type": "application/json"},
                    timeout=self.timeout,
                )
                response.raise_for_status()
                delivered.append("webhook")
            except requests.RequestException as exc:
                logger.error("alert webhook failed: %s", redact(str(exc)))
        if self.direct_message_to and self.send_direct_message:
            try:
                self.send_direct_message(f"{self.direct_message_to} campaign-bot: {text}"[:480])
                delivered.append("direct message")
            except Exception as exc:  # noqa: BLE001 - an alert must never take the daemon down
                logger.error("alert direct message failed: %s", redact(str(exc)))
        if delivered and once:
            self.remember(subject, f"{kind} via {', '.join(delivered)}")
            logger.info("alerted about %s (%s) via %s", subject, kind, ", ".join(delivered))
