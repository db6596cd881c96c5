"""A group's Used by: the Access groups, reusable policies and applications whose rules name it."""

from __future__ import annotations

from bot.answers.kinds import DetailFound, DetailKind, Subjects
from bot.cache import Cached
from bot.query import Detail
from bot.rules import AccessGraph, uses
from bot.views import Message, render_used_by


def fetch(subjects: Subjects, detail: Detail) -> Cached[AccessGraph]:
    """Give back the account's Access graph (the same for every group)."""
    return subjects.rules.graph()


def draw(found: DetailFound[AccessGraph]) -> tuple[int, Message]:
    """Give back how many uses are shown, and the message."""
    graph = found.copy.value if found.copy is not None else None
    shown = (
        uses(graph, found.group, found.provider)
        if graph is not None
        and found.group is not None
        and found.provider is not None
        and found.problem is None
        else ()
    )
    message = render_used_by(
        found.group,
        found.detail,
        found.where,
        uses=shown,
        missing_permission=graph.missing_permission if graph is not None else "",
        problem=found.problem,
        stale=found.stale,
        fetched_at=found.fetched_at,
        aging=found.copy is not None and found.copy.aging,
    )
    return len(shown), message


DETAIL = DetailKind(fetch=fetch, draw=draw)
