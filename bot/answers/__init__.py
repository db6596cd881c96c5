"""The kinds of answer, one module each, registered here: a new kind is its module, its view,
one line in a table, and its tests (`bot.answers.kinds` says what a kind is)."""

from typing import Any

from bot.answers import browse, changed, failures, history, lookup, search, used_by, users
from bot.answers.kinds import DetailKind, PageKind
from bot.query import Kind

# What answers a command or a paging click, by the kind of its query.
ANSWERS: dict[Kind, PageKind[Any]] = {
    "browse": browse.ANSWER,
    "search": search.ANSWER,
    "id": lookup.ANSWER,
    "external": lookup.ANSWER,
    "any": lookup.ANSWER,
    "user": users.ANSWER,
    "failures": failures.ANSWER,
    "changed": changed.ANSWER,
}
# What answers a group's History or Used by button.
DETAILS: dict[str, DetailKind[Any]] = {"history": history.DETAIL, "used_by": used_by.DETAIL}
