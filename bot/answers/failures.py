"""`/scim-groups failures:6h`: the identity provider's failed SCIM pushes in the window, newest first."""

from __future__ import annotations

from bot.answers.kinds import Drawing, PageKind, Subjects
from bot.paging import Paged
from bot.pushes import ScimPush, Window
from bot.query import Show
from bot.views import Message, render_failures


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


ANSWER = PageKind(find=find, draw=draw, page=lambda found: found, asked=lambda query: "", windowed=True)
