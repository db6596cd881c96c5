"""The HTTP front: what stands between the open internet and the Bolt app.

Both HTTP entry points serve it: the Procfile's gunicorn (uvicorn's worker) and `python -m bot`
(uvicorn in the process). Requests are read in uvicorn's event loop, not on threads; this front
reads each body whole, bounded in size and in time, and only then hands the request to the
WSGI app (`Bot.wsgi`). So a stranger's slow or huge body costs one socket and at most
MAX_BODY_BYTES of memory, and never holds up a signed command's ack:

- a `Content-Length` over MAX_BODY_BYTES is answered 413 before a byte of the body is read,
  and a body without one is cut off with 413 once it passes the bound;
- a body still incomplete BODY_SECONDS after its request began is answered 408;
- a POST to /slack/events must be signed by Slack (checked here, in the loop, before the body is
  parsed at all: 401 otherwise), then be UTF-8, and either form-encoded, carrying a `payload`
  that is a JSON object when it carries one, or an Events API envelope in JSON (an
  `event_callback` whose `event` has a type, or a `url_verification`); 400 otherwise.

Each refusal is one log line (`http_refused`, with the reason, never the body) and a short
plain-text answer; nothing a stranger sends reaches Bolt, a thread, or a traceback.

Why this design, and what else was tried: SECURITY.md, "Traffic that is not Slack's".
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlencode

import uvicorn
from a2wsgi.wsgi import build_environ
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
ANSWERS = {
    400: b"Not a request from Slack.\n",
    401: b"Not a request from Slack.\n",
    408: b"Request body too slow.\n",
    413: b"Request body too large.\n",
}
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


class Refused(Exception):
    """A request that is not one Slack would send: its status and why, for the log."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


class Front:
    """An ASGI app that reads each request whole, within bounds, then answers it with the WSGI app."""

    def __init__(
        self,
        wsgi: WSGIApplication,
        *,
        signing_secret: Secret | None,
        on_shutdown: Callable[[], None] = lambda: None,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        self._wsgi = wsgi
        # Without a secret (Socket Mode) nothing posted to /slack/events is Slack's.
        self._verifier = SignatureVerifier(signing_secret.reveal()) if signing_secret else None
        self._on_shutdown = on_shutdown
        self._max_body = max_body_bytes
        self._body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no mutate block
        # uvicorn calls an app with no arguments to see whether it is a factory: this signature
        # must stay as it is (mutation testing would otherwise wrap it in one that takes any).
        await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here
        try:
            declared = _content_length(scope)
            if declared is not None and declared > self._max_body:
                raise Refused(413, "body_too_large")
            try:
                body = await asyncio.wait_for(self._read(receive), timeout=self._body_seconds)
            except TimeoutError:
                raise Refused(408, "body_too_slow") from None
            if body is None:
                return  # the client went away
            if scope.get("method") == "POST" and scope.get("path") == SLACK_PATH:
                body = self._screen(scope, body)
        except Refused as refused:
            client = scope.get("client") or ("", 0)
            event(
                log,
                "http_refused",
                logging.WARNING,
                status=refused.status,
                reason=refused.reason,
                client=client[0],
            )
            await _answer(send, refused.status, ANSWERS[refused.status])
            return
        # The body as read (maybe without a length, or rewritten above) is what the app gets.
        headers = [(name, value) for name, value in scope["headers"] if name != b"content-length"]
        scope["headers"] = [*headers, (b"content-length", str(len(body)).encode())]
        environ = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type]  # any readable body
        status, response_headers, content = self._call(dict(environ))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": content})

    def _call(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Give back the WSGI app's answer to `environ`: status, headers and body.

        It runs right here, on the event loop's thread: every request this app answers is done
        in well under a millisecond without waiting on anything (listeners hand slow work to
        pools; an answer in the ack is read from in-process caches only), and Python runs one
        thread at a time anyway, so a hop to a thread and back would only add latency.
        """
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: None

        try:
            chunks = self._wsgi(environ, start_response)
            try:
                content = b"".join(chunks)
            finally:
                getattr(chunks, "close", lambda: None)()
            status, headers = started
        except Exception:  # a bug of ours: one line and a 500, never a traceback to the client
            log.exception("internal_error while answering an HTTP request")
            return 500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal error.\n"
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return int(status.split(" ", 1)[0]), encoded, content

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
        kind = headers.get("content-type", "").partition(";")[0].strip()
        if kind == "application/json":  # the Events API (a workflow step's function_executed)
            return _event(text, body)
        if kind != "application/x-www-form-urlencoded":
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
                raise Refused(413, "body_too_large")
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


# The Events API's envelopes the bot reads; any other is refused before Bolt.
EVENT_ENVELOPES = ("event_callback", "url_verification")


def _event(text: str, body: bytes) -> bytes:
    """Give back a signed Events API body if it is an envelope Bolt can route, else refuse it."""
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("type") not in EVENT_ENVELOPES:
        raise Refused(400, "bad_event")
    if envelope["type"] == "event_callback" and not (
        isinstance(envelope.get("event"), dict) and isinstance(envelope["event"].get("type"), str)
    ):
        raise Refused(400, "bad_event")
    return body


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
