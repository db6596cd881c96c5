"""Log lines: one per event, as `event key=value …` for people or as JSON for log pipelines.

Nothing secret is ever passed in: settings hold secrets in `Secret`, and events carry ids,
counts and Cloudflare's codes, never tokens, response_urls or request bodies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")


# Log fields may carry outside text (Cloudflare's messages, at DEBUG names): each is cut to this.
FIELD_LIMIT = 500


def event(logger: logging.Logger, name: str, level: int = logging.INFO, /, **fields: Any) -> None:
    """Log one event: `name key=value …` as text, or every field as its own key in JSON; a
    string field is cut to FIELD_LIMIT characters."""
    if logger.isEnabledFor(level):
        fields = {key: _cut(value) for key, value in fields.items()}
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
    handler.addFilter(LibraryFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > FIELD_LIMIT:
        return value[: FIELD_LIMIT - 1] + "…"
    if isinstance(value, list | tuple):
        return [_cut(item) for item in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        # Quoted (so escaped) unless it is one plain word: a control character or a line break
        # from outside text never reaches the terminal or the log file raw.
        plain = value.isprintable() and " " not in value and "=" not in value and '"' not in value
        return value if value and plain else json.dumps(value)
    if isinstance(value, list):
        return json.dumps(value, default=str)
    return str(value)


# Below WARNING, Bolt logs whole request bodies, and slack_sdk and httpx every URL they call,
# response_urls included (one lets anyone post into that conversation for 30 minutes): none of
# that is ever written, at any LOG_LEVEL. (Bolt sets its loggers' levels itself, so the rule
# sits on the handler.)
LIBRARIES = ("slack_bolt", "slack_sdk", "httpx", "httpcore")
_QUIETED: set[str] = set()


class LibraryFilter(logging.Filter):
    """Lets through only what the libraries log at WARNING or above, and nothing quieted."""

    def filter(self, record: logging.LogRecord) -> bool:
        library = record.name.split(".")[0].split(":")[0]
        if library in _QUIETED:
            return record.levelno >= logging.CRITICAL
        return library not in LIBRARIES or record.levelno >= logging.WARNING


@contextlib.contextmanager
def quiet(*libraries: str) -> Iterator[None]:
    """Within this block, these libraries' log lines are dropped below CRITICAL (the caller says
    what went wrong itself, in one line)."""
    _QUIETED.update(libraries)
    try:
        yield
    finally:
        _QUIETED.difference_update(libraries)


def slack_error(error: Exception) -> str:
    """Give back, for a log line, what Slack said when it refused a call (its `error` code, such
    as `not_in_channel`), or the exception's name when Slack said nothing (the network)."""
    response = getattr(error, "response", None)
    code = response.get("error") if response is not None and hasattr(response, "get") else None
    return str(code or type(error).__name__)
