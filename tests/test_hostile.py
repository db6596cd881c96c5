"""Traffic that is not Slack's: slow, huge, unsigned or malformed requests, sent as a stranger would.

The slow and huge ones go to the Procfile's gunicorn, as deployed; the malformed ones to the
same front served in-process, where the log can be read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from bot import web
from bot.web import Receive
from tests.conftest import SlackDriver, wait_until
from tests.fakes import (
    SIGNING_SECRET,
    FakeCloudflare,
    FakeSlack,
    click_payload,
    command_form,
    signed_headers,
    slack_signature,
)
from tests.helpers import serving, trickling

ATTACKERS = 16


def worker_rss_kib(server_pid: int) -> int:
    """Give back the resident memory of gunicorn's worker processes, in KiB."""
    total = 0
    for child in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def test_slow_clients_do_not_delay_a_signed_command(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    with (
        serving("web", cloudflare, slack, tmp_path) as (url, _),
        trickling(url, ATTACKERS, headers_only=False),
        trickling(url, ATTACKERS, headers_only=True),
    ):
        body = urlencode(command_form("", slack.response_url("hook")))
        # Slack gives up after 3 s: a blocked ack fails this with a timeout.
        ack = httpx.post(url, content=body, headers=signed_headers(body), timeout=3)

    assert ack.status_code == 200
    assert slack.wait_for_hook("hook").body["blocks"][0]["text"]["text"] == "SCIM groups · Okta Production"


def test_a_body_that_never_finishes_gets_408(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    with (
        serving("web", cloudflare, slack, tmp_path) as (url, _),
        trickling(url, 1, headers_only=False) as (connection,),
    ):
        connection.settimeout(15)
        answer = connection.recv(1000)

    assert answer.startswith(b"HTTP/1.1 408 ")


def announced(url: str) -> bytes:
    """Announce a 200 MB body, send not a byte of it, and give back the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(
            f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n".encode()
        )
        return connection.recv(1000)


def chunked(url: str) -> bytes:
    """Send a 50 MB body without a length, and give back the answer, once it is cut off."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(
            f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"%x\r\n%s\r\n" % (1 << 20, b"a" * (1 << 20))
        try:
            for _ in range(50):
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-way, as it should be
        return connection.recv(1000)


def test_a_huge_body_is_refused_before_it_is_read(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path
) -> None:
    with serving("web", cloudflare, slack, tmp_path) as (url, server):
        # One of each first: what a worker allocates on its first requests is not what is measured.
        warm = [announced(url), chunked(url)]
        before = worker_rss_kib(server.pid)
        answers = [announced(url) for _ in range(4)] + [chunked(url) for _ in range(4)]
        after = worker_rss_kib(server.pid)

    assert all(answer.startswith(b"HTTP/1.1 413 ") for answer in warm + answers), answers
    # Had the bodies been read, the worker would hold hundreds of MiB (four of 200 MB announced, four
    # of 50 MB sent); what a loaded machine's slower reading leaves in buffers is a few MiB.
    assert after - before < 20_000, f"the worker grew by {(after - before) // 1024} MiB"


UNSIGNED = {"Content-Type": "application/x-www-form-urlencoded"}


def post(bot: SlackDriver, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return bot.http.post(f"{bot.url}/slack/events", content=body, headers=headers)


def signed_bytes(body: bytes, **changes: str) -> dict[str, str]:
    """Give back Slack's headers for raw bytes (signed_headers signs text)."""
    moment = str(int(time.time()))
    return {
        "X-Slack-Request-Timestamp": moment,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, moment, body),
        "Content-Type": "application/x-www-form-urlencoded",
        **changes,
    }


def signed(body: bytes, **changes: str) -> Callable[[], dict[str, str]]:
    """Give back a maker of Slack's headers for `body`, signed when the test runs (Slack refuses
    a signature older than five minutes, and a whole run may take longer)."""
    return partial(signed_bytes, body, **changes)


def signed_without(body: bytes, header: str) -> Callable[[], dict[str, str]]:
    """Give back a maker of Slack's headers for `body`, one of them left out."""
    return lambda: {name: value for name, value in signed_bytes(body).items() if name != header}


# Each case: the body, a maker of its headers, the status and the reason logged.
JUNK: dict[str, tuple[bytes, Callable[[], dict[str, str]], int, str]] = {
    "unsigned invalid UTF-8": (b"text=\xff\xfe\xfd", UNSIGNED.copy, 401, "unsigned"),
    "unsigned JSON": (
        b'{"type": "url_verification"}',
        lambda: {"Content-Type": "application/json"},
        401,
        "unsigned",
    ),
    "forged signature": (
        b"text=x",
        signed(b"text=x", **{"X-Slack-Signature": "v0=00"}),
        401,
        "bad_signature",
    ),
    "timestamp not a number": (
        b"text=x",
        signed(b"text=x", **{"X-Slack-Request-Timestamp": "soon"}),
        401,
        "bad_timestamp",
    ),
    "timestamp huge": (
        b"text=x",
        signed(b"text=x", **{"X-Slack-Request-Timestamp": "9" * 400}),
        401,
        "bad_timestamp",
    ),
    "a signature without a timestamp": (
        b"text=x",
        signed_without(b"text=x", "X-Slack-Request-Timestamp"),
        401,
        "unsigned",
    ),
    "a timestamp without a signature": (
        b"text=x",
        signed_without(b"text=x", "X-Slack-Signature"),
        401,
        "unsigned",
    ),
    # Up to 12 digits is a timestamp (then too far off: refused with the signature); 13 is not.
    "timestamp of 12 digits": (
        b"text=x",
        signed(b"text=x", **{"X-Slack-Request-Timestamp": "9" * 12}),
        401,
        "bad_signature",
    ),
    "timestamp of 13 digits": (
        b"text=x",
        signed(b"text=x", **{"X-Slack-Request-Timestamp": "9" * 13}),
        401,
        "bad_timestamp",
    ),
    "signed invalid UTF-8": (b"text=\xff\xfe\xfd", signed(b"text=\xff\xfe\xfd"), 400, "not_utf8"),
    "signed JSON body that is no event envelope": (
        b'{"type": "block_actions"}',
        signed(b'{"type": "block_actions"}', **{"Content-Type": "application/json"}),
        400,
        "bad_event",
    ),
    "signed JSON body not JSON": (
        b'{"type": "event_callback"',
        signed(b'{"type": "event_callback"', **{"Content-Type": "application/json"}),
        400,
        "bad_event",
    ),
    "signed event without an event": (
        b'{"type": "event_callback", "event": [1]}',
        signed(b'{"type": "event_callback", "event": [1]}', **{"Content-Type": "application/json"}),
        400,
        "bad_event",
    ),
    "signed JSON list": (b"[]", signed(b"[]", **{"Content-Type": "application/json"}), 400, "bad_event"),
    "signed, another content type": (
        b"text=x",
        signed(b"text=x", **{"Content-Type": "text/plain"}),
        400,
        "not_form",
    ),
    "signed, no content type": (
        b"text=x",
        signed_without(b"text=x", "Content-Type"),
        400,
        "not_form",
    ),
    "signed payload not JSON": (b"payload=%7Bnot", signed(b"payload=%7Bnot"), 400, "bad_payload"),
    "signed payload a list": (b"payload=%5B1%5D", signed(b"payload=%5B1%5D"), 400, "bad_payload"),
}


@pytest.mark.parametrize("case", JUNK, ids=list(JUNK))
def test_junk_gets_a_4xx_and_one_log_line_without_the_body(
    bot: SlackDriver, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, headers, status, reason = JUNK[case]
    caplog.set_level(logging.DEBUG)

    response = post(bot, body, headers())

    assert response.status_code == status
    # A short plain sentence, and the connection closed: a stranger gets nothing to keep open.
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["connection"] == "close"
    assert response.text.endswith("\n")
    refusals = [record for record in caplog.records if record.getMessage().startswith("http_refused")]
    assert len(refusals) == 1
    assert f"reason={reason}" in refusals[0].getMessage()
    assert not any(record.exc_info for record in caplog.records), "a traceback was logged"
    assert not any(record.levelno >= logging.ERROR for record in caplog.records)
    everything = "\n".join(record.getMessage() for record in caplog.records)
    assert "url_verification" not in everything
    assert "block_actions" not in everything


@pytest.mark.parametrize("entry", ["web", "python -m bot"])
def test_nothing_a_request_carries_reaches_the_log_even_at_debug(
    cloudflare: FakeCloudflare, slack: FakeSlack, tmp_path: Path, entry: str
) -> None:
    with serving(entry, cloudflare, slack, tmp_path, LOG_LEVEL="DEBUG") as (url, _):
        body = urlencode(command_form("secret-search", slack.response_url("T0ACME/999/hook")))
        forged = httpx.post(url, content=body, headers=signed_headers(body, secret="not-the-secret"))
        body = urlencode(command_form("", slack.response_url("T0ACME/1000/hook")))
        signed = httpx.post(url, content=body, headers=signed_headers(body), timeout=10)
        slack.wait_for_hook("T0ACME/1000/hook")
        # The refusal's line is written as it happens: wait for it, not for a fixed time.
        wait_until(lambda: "http_refused" in (tmp_path / "process.log").read_text(), "the refusal logged")
    log = (tmp_path / "process.log").read_text()

    assert (forged.status_code, signed.status_code) == (401, 200)
    assert "http_refused" in log  # the log is being written, at DEBUG
    assert "/hooks/" not in log  # no response_url, posted to or refused
    assert "secret-search" not in log
    assert "trigger_id" not in log  # no body


@pytest.mark.parametrize(
    "payload_change",
    [
        {"actions": []},
        {"actions": [None]},
        {"actions": [{"value": "x"}]},
        {"actions": [{"action_id": 7}]},
        {"actions": {"action_id": "scim_groups_next"}},
        {"user": None},
        {"actions": [{"action_id": "scim_groups_next"}]},
        {"actions": [{"action_id": "scim_groups_next", "value": ["x"]}]},
    ],
    ids=[
        "no actions",
        "a null action",
        "an action without an id",
        "a numeric action id",
        "actions not a list",
        "no user",
        "an action without a value",
        "a value not a string",
    ],
)
def test_signed_oddities_get_one_clear_sentence(
    bot: SlackDriver, slack: FakeSlack, payload_change: dict[str, object]
) -> None:
    payload = {**click_payload("scim_groups_next", "{}", slack.response_url("odd")), **payload_change}
    body = urlencode({"payload": json.dumps(payload)})

    response = post(bot, body.encode(), signed_headers(body))

    assert response.status_code == 200
    message = slack.wait_for_hook("odd").body
    assert "run `/scim-groups` again" in message["blocks"][0]["text"]["text"]


def test_the_signer_of_the_fakes_matches_slacks_documented_example() -> None:
    # The example from Slack's "Verifying requests from Slack" page.
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )

    signature = slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body.encode())

    assert signature == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_the_front_takes_any_wsgi_answer_whole_and_closes_it() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            return iter([b"one ", b"two"])

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response("404 Not Found", [("X-Thing", "yes")])(b"")  # WSGI's legacy write(): accepted
        return Body()

    answer = web.Front(app, signing_secret=None)._call({})

    assert answer == (404, [(b"x-thing", b"yes")], b"one two")
    assert closed == [True]


def test_a_bug_behind_the_front_is_one_log_line_and_a_plain_500(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("a bug of ours, holding xoxb-secret")

    answer = web.Front(app, signing_secret=None)._call({})

    assert answer == (500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal error.\n")
    assert [record.getMessage() for record in caplog.records] == [
        "internal_error while answering an HTTP request"
    ]


def unreachable(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    raise AssertionError("the request reached the app")


def telling(*messages: dict[str, Any]) -> Receive:
    """Give back an ASGI receive() that gives these messages, one a call."""
    left = list(messages)

    async def receive() -> dict[str, Any]:
        return left.pop(0)

    return receive


def served(front: web.Front, scope: dict[str, Any], receive: Receive) -> list[MutableMapping[str, Any]]:
    """Give back every message `front` sends for one ASGI connection."""
    said: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        said.append(message)

    asyncio.run(front(scope, receive, send))
    return said


def test_the_front_starts_and_stops_with_the_server_posting_what_is_owed_on_the_way_out() -> None:
    owed: list[str] = ["a reply still owed to Slack"]
    front = web.Front(unreachable, signing_secret=None, on_shutdown=owed.clear)
    said = served(
        front, {"type": "lifespan"}, telling({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    )

    assert [message["type"] for message in said] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert owed == []


async def never_read() -> dict[str, Any]:
    raise AssertionError("the body was read")


async def two_seconds_late() -> dict[str, Any]:
    await asyncio.sleep(2)
    return {"type": "http.request", "body": b"x" * 10, "more_body": False}


def chunks(*sizes: int) -> Receive:
    """Give back a receive() that sends a body in chunks of these sizes (0: a message without a
    body, which ASGI reads as b"")."""
    last = len(sizes) - 1
    return telling(
        *({"type": "http.request", "more_body": n < last, **({"body": b"x" * size} if size else {})}
          for n, size in enumerate(sizes))
    )  # fmt: skip


# Each case, on a front that takes 100 bytes within 0.05 s: the declared length, how the body
# arrives, and the status and reason of its refusal.
# (Each receive() is made afresh for each run: one that sends chunks is spent once they are sent.)
OUTSIZED: dict[str, tuple[bytes | None, Callable[[], Receive], int, str]] = {
    "declared too large": (b"101", lambda: never_read, 413, "body_too_large"),
    "too large, no length declared": (None, partial(chunks, 0, 60, 41), 413, "body_too_large"),
    "longer than declared": (b"50", partial(chunks, 60, 41), 413, "body_too_large"),
    "too slow": (b"10", lambda: two_seconds_late, 408, "body_too_slow"),
}


@pytest.mark.parametrize("case", OUTSIZED, ids=list(OUTSIZED))
def test_a_body_too_large_or_too_slow_is_refused_without_reaching_the_app(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    length, make_receive, status, reason = OUTSIZED[case]
    headers = [] if length is None else [(b"content-length", length)]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/slack/events",
        "headers": headers,
        # A server may not know the client's address (ASGI makes it optional): logged as "".
        **({} if case == "too slow" else {"client": ("1.2.3.4", 5)}),
    }
    front = web.Front(unreachable, signing_secret=None, max_body_bytes=100, body_seconds=0.05)
    said = served(front, scope, make_receive())

    assert [(message["type"], message.get("status"), message.get("body")) for message in said] == [
        ("http.response.start", status, None),
        ("http.response.body", None, web.ANSWERS[status]),
    ]
    assert [(record.levelname, record.fields) for record in caplog.records] == [  # type: ignore[attr-defined]
        (
            "WARNING",
            {
                "event": "http_refused",
                "status": status,
                "reason": reason,
                "client": "" if case == "too slow" else "1.2.3.4",
            },
        )
    ]


def test_a_client_gone_before_its_body_ends_gets_nothing() -> None:
    scope = {"type": "http", "method": "POST", "path": "/slack/events", "headers": []}
    gone = telling({"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"})

    assert served(web.Front(unreachable, signing_secret=None), scope, gone) == []


def test_a_body_of_exactly_the_limit_is_read_and_answered() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["wsgi.input"].read()]

    receive = telling(
        {"type": "http.request", "more_body": True},  # no body: b"", says ASGI
        {"type": "http.request", "body": b"x" * 100},  # more_body left out: False, says ASGI
    )
    scope = {
        "type": "http", "method": "POST", "path": "/elsewhere", "headers": [(b"content-length", b"100")],
        "http_version": "1.1", "scheme": "http", "query_string": b"", "root_path": "",
        "server": ("127.0.0.1", 80),
    }  # fmt: skip
    said = served(web.Front(app, signing_secret=None, max_body_bytes=100), scope, receive)

    assert (said[0]["status"], said[0]["headers"], said[1]["body"]) == (
        200,
        [(b"content-type", b"text/plain")],
        b"x" * 100,
    )


def test_a_form_with_a_charset_in_its_content_type_is_a_form(bot: SlackDriver, slack: FakeSlack) -> None:
    body = urlencode(command_form("", slack.response_url("charset")))
    headers = {**signed_headers(body), "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    assert post(bot, body.encode(), headers).status_code == 200
    assert slack.wait_for_hook("charset").body["response_type"] == "ephemeral"


def test_the_servers_signals_stop_it_gracefully_and_only_from_the_main_thread() -> None:
    serving = web.server(web.Front(unreachable, signing_secret=None))
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with serving.capture_signals():
            caught = {number: signal.getsignal(number) for number in before}
        for number, handler in before.items():
            signal.signal(number, handler)
        elsewhere: list[object] = []

        def from_a_thread() -> None:
            with serving.capture_signals():
                elsewhere.append(signal.getsignal(signal.SIGTERM))

        thread = threading.Thread(target=from_a_thread)
        thread.start()
        thread.join(timeout=10)
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)

    assert caught == {number: serving.handle_exit for number in before}
    assert elsewhere == [before[signal.SIGTERM]]  # a thread may not set them: left alone


def test_python_m_bots_server_runs_the_fronts_lifespan_and_waits_its_grace() -> None:
    config = web.server(web.Front(unreachable, signing_secret=None), graceful_seconds=7).config

    assert (config.lifespan, config.timeout_graceful_shutdown, config.access_log) == ("on", 7, False)
