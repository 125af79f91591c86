"""The one place logging is configured: text for people, JSON for collectors, secrets redacted.

Every handler carries a filter that replaces registered secrets (the access token) with
`[redacted]`, whatever code produced the line; a dry run marks every line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import TextIO

_SECRETS: set[str] = set()
_DRY_RUN = False
_HANDLER: logging.Handler | None = None


def register_secret(value: str | None) -> None:
    """Never let this value reach a log line."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "[redacted]")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.dry_run = _DRY_RUN
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        prefix = "[dry run] " if getattr(record, "dry_run", False) else ""
        post = getattr(record, "post_id", None)
        where = f" {post}:" if post else ""
        line = f"{stamp} {record.levelname.lower():7}{where} {prefix}{record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
        }
        for key in ("post_id", "occurrence", "event", "url", "status_id"):
            value = getattr(record, key, None)
            if value is not None:
                body[key] = value
        if getattr(record, "dry_run", False):
            body["dry_run"] = True
        if record.exc_text:
            body["traceback"] = record.exc_text
        return json.dumps(body, ensure_ascii=False)


def _print_redacted(
    kind: type[BaseException], value: BaseException | None, tb: TracebackType | None
) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is not SystemExit:
        _print_redacted(args.exc_type, args.exc_value, args.exc_traceback)


def configure(
    *, fmt: str = "text", debug: bool = False, dry_run: bool = False, stream: TextIO | None = None
) -> None:
    global _DRY_RUN, _HANDLER
    _DRY_RUN = dry_run
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    # Replace only our own handler: one configured twice must not log every line twice, and
    # handlers others attached (an embedding program's, pytest's caplog) stay.
    if _HANDLER is not None:
        root.removeHandler(_HANDLER)
    _HANDLER = handler
    root.addHandler(handler)
    # A traceback that escapes (`--debug` re-raises unexpected errors) is printed by Python
    # itself, past every logging filter; these hooks redact it too.
    sys.excepthook = _print_redacted
    threading.excepthook = _thread_excepthook
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Library chatter (HTTP connection pools, the scheduler's own job lines) only with --debug.
    for noisy in ("urllib3", "apscheduler", "requests"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)
