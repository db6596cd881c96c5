"""The HTTP front: what stands between the open internet and the Bolt app.

Both HTTP entry points serve it: the Procfile's gunicorn (uvicorn's worker) and `python -m bot`
(uvicorn in the process). Requests are read in uvicorn's event loop, not on threads; this front
reads each body whole, bounded in size and in time, and only then hands the request to the
WSGI app (`Bot.wsgi`) on a thread. So a stranger's slow or huge body costs one socket and at
most MAX_BODY_BYTES of memory, never a thread that a signed command needs for its ack:

- a `Content-Length` over MAX_BODY_BYTES is answered 413 before a byte of the body is read,
  and a body without one is cut off with 413 once it passes the bound;
- a body still incomplete BODY_SECONDS after its request began is answered 408;
- a POST to /slack/events must be signed by Slack (checked here, in the loop, before the body is
  parsed at all: 401 otherwise), then be UTF-8, form-encoded, and carry a `payload` that is a
  JSON object when it carries one (400 otherwise).

Each refusal is one log line (`http_refused`, with the reason, never the body) and a short
plain-text answer; nothing a stranger sends reaches Bolt, a thread, or a traceback.

Why this design, and what else was tried: SECURITY.md, "Traffic that is not Slack's".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlencode

import uvicorn
from a2wsgi import WSGIMiddleware
from slack_sdk.signature import SignatureVerifier
from uvicorn_worker import UvicornWorker

from bot.logs import event
from bot.settings import Secret

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SLACK_PATH = "/slack/events"
# What a click with no usable action becomes: a button this bot does not know, answered as such.
UNKNOWN_ACTION = "scim_groups_unknown"
# Slack's largest request to this app is a click on a shared message, whose payload carries the
# whole message: at most 50 blocks of this app's making (tests/test_web.py builds the largest
# one the bot can draw and checks that it fits, URL-encoded, with room to spare).
MAX_BODY_BYTES = 64 * 1024
# Slack sends a whole request at once; a body that takes longer than this is not Slack's.
BODY_SECONDS = 5.0
# uvicorn's settings, the same under gunicorn and in `python -m bot`: the front's lifespan posts
# the replies still owed at shutdown; every command and click has its audit line, so no access
# log; beyond this many open connections uvicorn answers 503 rather than run out of sockets.
UVICORN: dict[str, Any] = {
    "lifespan": "on",
    "access_log": False,
    "log_config": None,
    "limit_concurrency": 1_000,
    "timeout_keep_alive": 5,
}


class TooLarge(Exception):
    """The body passed MAX_BODY_BYTES."""


class Refused(Exception):
    """A request that is not one Slack would send: its status and why, for the log."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


class Front:
    """An ASGI app that reads each request whole, within bounds, then runs the WSGI app on a thread."""

    def __init__(
        self,
        wsgi: WSGIApplication,
        *,
        signing_secret: Secret | None,
        threads: int,
        on_shutdown: Callable[[], None] = lambda: None,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        self._wsgi = WSGIMiddleware(wsgi, workers=threads)  # type: ignore[arg-type]
        # Without a secret (Socket Mode) nothing posted to /slack/events is Slack's.
        self._verifier = SignatureVerifier(signing_secret.reveal()) if signing_secret else None
        self._on_shutdown = on_shutdown
        self._max_body = max_body_bytes
        self._body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here
        declared = _content_length(scope)
        if declared is not None and declared > self._max_body:
            _refused(scope, 413, "body_too_large", declared_bytes=declared)
            await _answer(send, 413, b"Request body too large.\n")
            return
        started = time.monotonic()
        try:
            body = await asyncio.wait_for(self._read(receive), timeout=self._body_seconds)
        except TooLarge:
            _refused(scope, 413, "body_too_large", declared_bytes=declared)
            await _answer(send, 413, b"Request body too large.\n")
            return
        except TimeoutError:
            _refused(scope, 408, "body_too_slow", seconds=round(time.monotonic() - started, 1))
            await _answer(send, 408, b"Request body too slow.\n")
            return
        if body is None:
            return  # the client went away
        if scope.get("method") == "POST" and scope.get("path") == SLACK_PATH:
            try:
                body = self._screen(scope, body)
            except Refused as refused:
                _refused(scope, refused.status, refused.reason)
                await _answer(send, refused.status, b"Not a request from Slack.\n")
                return
        # The body as read (maybe without a length, or rewritten above) is what the app gets.
        headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
        scope["headers"] = [*headers, (b"content-length", str(len(body)).encode())]
        await self._wsgi(scope, _replay(body), send)  # type: ignore[arg-type]

    def _screen(self, scope: Scope, body: bytes) -> bytes:
        """Give back the body to hand to Bolt; raise `Refused` unless it is signed by Slack and
        shaped as Slack shapes requests."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp or not signature:
            raise Refused(401, "unsigned")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise Refused(401, "bad_timestamp")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "not_utf8") from None
        if self._verifier is None or not self._verifier.is_valid(text, timestamp, signature):
            raise Refused(401, "bad_signature")  # or older than five minutes
        if headers.get("content-type", "").partition(";")[0].strip() != "application/x-www-form-urlencoded":
            raise Refused(400, "not_form")
        fields = parse_qs(text)
        if "payload" not in fields:
            return body
        try:
            payload = json.loads(fields["payload"][0])
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            raise Refused(400, "bad_payload")
        if "actions" in payload and not _usable_actions(payload["actions"]):
            # Bolt would crash on these. As a click on no button of ours, the bot answers plainly.
            fields["payload"] = [json.dumps({**payload, "actions": [{"action_id": UNKNOWN_ACTION}]})]
            return urlencode(fields, doseq=True).encode()
        return body

    async def _read(self, receive: Receive) -> bytes | None:
        """Give back the whole body, or None if the client disconnected first."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # The server has stopped taking requests and finished those it had: now post the
                # replies still owed to Slack, off the event loop.
                await asyncio.get_running_loop().run_in_executor(None, self._on_shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _usable_actions(actions: object) -> bool:
    """Give back whether Bolt can match a listener to these actions (it reads the first one's id)."""
    return (
        isinstance(actions, list)
        and bool(actions)
        and isinstance(actions[0], dict)
        and isinstance(actions[0].get("action_id"), str)
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes) -> Receive:
    """Give back a `receive` that hands over the body read before, then waits for a disconnect."""
    sent = False
    gone = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    return receive


async def _answer(send: Send, status: int, text: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})


def _refused(scope: Scope, status: int, reason: str, **fields: Any) -> None:
    client = scope.get("client") or ("", 0)
    event(log, "http_refused", logging.WARNING, status=status, reason=reason, client=client[0], **fields)


class Worker(UvicornWorker):  # type: ignore[misc]
    """gunicorn's worker for the Procfile: uvicorn's, with this front's settings."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, **UVICORN}


class Server(uvicorn.Server):
    """uvicorn's server for `python -m bot`: SIGTERM and SIGINT stop it gracefully, and the process
    then exits 0 (uvicorn would raise the signal again, and the process would die of it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, self.handle_exit)
        yield


def server(app: Front, *, graceful_seconds: int | None = None) -> Server:
    """Give back a uvicorn server for `app` (serve it with `.run(sockets=[...])`)."""
    return Server(uvicorn.Config(app, timeout_graceful_shutdown=graceful_seconds, **UVICORN))
