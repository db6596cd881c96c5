"""Log lines: one per event, as `event key=value …` for people or as JSON for log pipelines.

Nothing secret is ever passed in: settings hold secrets in `Secret`, and events carry ids,
counts and Cloudflare's codes, never tokens, response_urls or request bodies.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")


def event(logger: logging.Logger, name: str, level: int = logging.INFO, /, **fields: Any) -> None:
    """Log one event: `name key=value …` as text, or every field as its own key in JSON."""
    if logger.isEnabledFor(level):
        text = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
        logger.log(level, "%s %s", name, text, extra={"fields": {"event": name, **fields}})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send log lines to stderr at `level`, in `fmt` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Below WARNING, Bolt logs whole request bodies and slack_sdk every response_url (which lets
    # anyone post into that conversation for 30 minutes): neither is ever written, at any level.
    for chatty in ("slack_bolt", "slack_sdk"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return (
            value
            if value and " " not in value and "=" not in value and '"' not in value
            else json.dumps(value)
        )
    return str(value)
