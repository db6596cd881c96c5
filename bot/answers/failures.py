"""`/scim-groups failures:6h`: the identity provider's failed SCIM pushes in the window, newest first."""

from __future__ import annotations

from bot.answers.kinds import Drawing, PageKind, Subjects
from bot.paging import Paged
from bot.pushes import ScimPush, Window
from bot.query import Option, Parts, Query, Reading, Show
from bot.views import Message, render_failures

# `failures` alone looks back a day.
FAILURES = Option(("failures",), "6h", window=True, bare=86_400)
# Slack drops a message whose blocks hold much more than 12,000 characters of text in all: a
# failed push takes more room than a group, so a page holds fewer.
FAILURES_PER_PAGE = 10


def read(parts: Parts, page_size: int) -> Show | None:
    """Give back the failures in the window of `failures:`; None for a command without it."""
    if FAILURES.name not in parts.windows:
        return None
    query = Query(provider=parts.provider, failures=parts.windows[FAILURES.name])
    return Show(query, page=1, page_size=min(page_size, FAILURES_PER_PAGE))


def find(subjects: Subjects, request: Show, provider_id: str, refresh: bool) -> Paged[ScimPush]:
    """Give back the page asked for of the failed pushes in the window."""
    query = request.query
    span = Window(query.until - query.failures, query.until)
    return subjects.pushes.failures(
        provider_id, span, page=request.page, page_size=request.page_size, refresh=refresh
    )


def draw(found: Paged[ScimPush], request: Show, drawing: Drawing) -> Message:
    """Give back the page of failed pushes as a message."""
    name = drawing.provider_name
    return render_failures(
        found, request, name, shared_by=drawing.shared_by, refresh_wait=drawing.refresh_wait
    )


ANSWER = PageKind(
    find=find,
    draw=draw,
    page=lambda found: found,
    asked=lambda query: "",
    windowed=True,
    reading=Reading(options=(FAILURES,), read=read, words=False),
)
