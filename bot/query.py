"""Queries: command text and button values turned into typed requests; bad input as values.

A command is read in two steps. `read_parts` reads what every command shares: quotes, options
(`key:value`, `key: value`, `key:"a value"`), the identity provider (`idp:`), help, and the
mistakes people make (a mistyped option, an empty value, a window too long or too short).
`read_command` then hands the parts to the kind of answer whose options they name, or whose
words they are: each kind says how in its `Reading` (`bot.answers`, one module each), so this
module knows no kind's options. A window is a number and a unit: `30m`, `6h`, `3d`, `2w` (at
most 90 days). `render_help` is the user's version of the grammar.

A button's value carries everything needed to draw the page it leads to, as compact versioned
JSON, so a click works on any worker, after a restart, and on ephemeral messages (whose click
payloads carry no `message`).
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from bot.settings import MAX_PAGE_SIZE, UUID_PATTERN

BUTTON_VERSION = 2
# The buttons: an action id each, `scim_groups_` and the action's name.
ACTION_PREFIX = "scim_groups_"
ACTION_PREVIOUS = "scim_groups_previous"
ACTION_NEXT = "scim_groups_next"
ACTION_REFRESH = "scim_groups_refresh"
ACTION_SHARE = "scim_groups_share"
ACTION_OPEN = "scim_groups_open"
ACTION_HISTORY = "scim_groups_history"
ACTION_USED_BY = "scim_groups_used_by"
ACTION_BACK = "scim_groups_back"
# A button that opens another answer in a message of its own, leaving the one it is on as it is.
ACTION_FOLLOW = "scim_groups_follow"
ACTIONS = (
    ACTION_PREVIOUS,
    ACTION_NEXT,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_OPEN,
    ACTION_HISTORY,
    ACTION_USED_BY,
    ACTION_BACK,
    ACTION_FOLLOW,
)
MAX_PAGE = 100_000
# Cloudflare takes at most 50 values of `cf_resource_id` or `idp_resource_id` in one request.
MAX_IDS = 50
# Room for `id:` and 50 pasted UUIDs (36 characters and a separator each).
MAX_TEXT_LENGTH = 2_000
MAX_VALUE_LENGTH = 200
# Slack refuses a button whose value is over 2,000 characters. A lookup's ids travel in its
# paging buttons, so together (JSON-encoded) they must stay under this; 50 UUIDs take 1,650.
MAX_IDS_IN_BUTTON = 1_700
# How far back `failures:` and `changed:` may look: the log's retention is not documented.
MAX_WINDOW_SECONDS = 90 * 86_400
WINDOW = re.compile(r"(\d{1,5})\s*(m|min|mins|minutes?|h|hours?|d|days?|w|wk|wks|weeks?)", re.IGNORECASE)
UNIT_SECONDS = {"m": 60, "h": 3_600, "d": 86_400, "w": 7 * 86_400}
# Slack's clients turn typed quotes into curly ones; people paste both.
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})
# A link someone pasted (`https://…`, `mailto:…`), whose scheme is not an option.
LINK = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|mailto:)\S", re.IGNORECASE)
# A token is `key:"quoted value"`, a quoted phrase, or a run of non-space characters.
TOKEN = re.compile(r"""(?:([A-Za-z]{1,12}):)?(?:"([^"]*)"?|'([^']*)'?)|(\S+)""")
EXAMPLE_ID = "bd97ef8d-7986-43e3-9ee0-c25dda33e4b0"

Kind = Literal["browse", "search", "id", "external", "any", "user", "failures", "changed", "why"]


@dataclass(frozen=True)
class Query:
    """What to show, from which identity provider: groups (all, by name, by id, or changed in a
    window), users by email or id, or failed SCIM pushes in a window.

    `provider` is what identifies the provider: None for the default, else a UUID or a name
    as the user typed it (buttons always carry the UUID it resolved to). A window is
    `failures` or `changed` seconds long and ends at `until` (Unix seconds; 0 until the
    command is answered, so that every page of the answer covers the same span).
    """

    provider: str | None = None
    search: str = ""
    ids: tuple[str, ...] = ()
    external_ids: tuple[str, ...] = ()
    either_ids: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    failures: int = 0
    changed: int = 0
    until: int = 0
    # `why`: the person (an email, or a Slack mention) and the application (a name, a domain, an id).
    why: tuple[str, ...] = ()

    @property
    def kind(self) -> Kind:
        """Give back which kind of question this is."""
        if self.why:
            return "why"
        if self.users:
            return "user"
        if self.failures:
            return "failures"
        if self.changed:
            return "changed"
        if self.ids:
            return "id"
        if self.external_ids:
            return "external"
        if self.either_ids:
            return "any"
        return "search" if self.search else "browse"


@dataclass(frozen=True)
class Show:
    """Show page `page` of the answer to `query`."""

    query: Query
    page: int
    page_size: int
    shared: bool = False
    # An option a command of one word came close to (`failure`: `failures`), said beside the
    # search it still is; never carried in a button.
    meant: str = ""


@dataclass(frozen=True)
class Detail:
    """One group's detail, opened from a page of groups: its recent SCIM pushes (`history`) or
    the Access rules that name it (`used_by`), with the page to go back to."""

    kind: Literal["history", "used_by"]
    group_id: str
    back: Show

    @property
    def provider_id(self) -> str:
        """Give back the UUID of the group's provider (a button always carries it)."""
        return self.back.query.provider or ""


@dataclass(frozen=True)
class ShowHelp:
    """Explain how to use the command."""


@dataclass(frozen=True)
class BadInput:
    """The input could not be understood; `reason` says why and what would work."""

    reason: str


OUTDATED = BadInput("This button is from an older or altered message; run `/scim-groups` again.")


@dataclass(frozen=True)
class Option:
    """An option a kind of answer reads from a command, such as `user:jane@example.com`.

    `names` are what may be typed: the first is the option's own, the rest aliases (those in
    `listed` are named beside it where the options are listed); `example` is a value messages
    show. A `window` option takes a span (`6h`) instead of values; one with a `bare` window (in
    seconds) may also be typed alone, as a word (`failures`).
    """

    names: tuple[str, ...]
    example: str
    listed: tuple[str, ...] = ()
    window: bool = False
    bare: int = 0

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass
class Parts:
    """A command read into its parts: the provider it names, its free words, and each option
    asked for (by the option's own name) with its values or its window in seconds."""

    provider: str | None = None
    words: list[str] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=dict)
    # A command of one word close to an option that needs no value (`failure`): that option.
    near: str | None = None

    @property
    def options(self) -> set[str]:
        """Give back the names of the options asked for."""
        return set(self.values) | set(self.windows)


@dataclass(frozen=True)
class Reading:
    """How one kind of answer reads a command: the options that ask for it, whether the
    command's free words are more of its values, and `read`, which gives back the request (or
    why it cannot be one) from the command's parts and the page size, or None when the command
    is not of its kind. A command without options goes to the first reading that takes it,
    with a `fallback` (the search, which takes any words) tried last."""

    options: tuple[Option, ...]
    read: Callable[[Parts, int], Show | BadInput | None]
    words: bool = True
    fallback: bool = False


def one_at_a_time(options: Sequence[Option]) -> BadInput:
    """Give back the answer to a command that asks two things at once: the options it named,
    each a command of its own, or the one that takes no other words."""
    names = [option.name + ("" if option.bare else ":") for option in options]
    listed = " and ".join(f"`{name}`" for name in names)
    verb = "each make a command of their own" if len(names) > 1 else "makes a command of its own"
    return BadInput(
        f"Ask one thing at a time: {listed} {verb} (with `idp:` if you like). To search for a "
        f'group with one of those words in its name, put it in quotes: `"{names[-1].rstrip(":")}"`.'
    )


NOT_A_QUESTION = BadInput("That is not a question this bot can answer: `/scim-groups help` says what it can.")


def from_slack(text: str) -> str:
    """Give back a command's text as the user meant it.

    Slack sends what was typed with `&`, `<` and `>` escaped, and wraps what its client
    recognised in markup of its own, which is unwrapped to what was pasted: an address it linked
    (`<mailto:a@example.com|a@example.com>`) is the address, a link (`<https://…|…>`) its URL, a
    channel (`<#C123|oncall>`) `#oncall`, a user group (`<!subteam^S123|@sre>`) `@sre`; a
    person's mention (`<@U123|jane>`) stays `<@U123>`, for `user:` to ask Slack who it is.
    """
    unwrapped = SLACK_MARKUP.sub(_unwrapped, text)
    return unwrapped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# Slack's markup: `<target>` or `<target|label>`; typed `<` and `>` arrive escaped, so never match.
SLACK_MARKUP = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
# One token of six or more letters and digits, a digit among them, as identity providers make
# their ids: `00g1HxmbubgVjZccWQvM` and `1234567` may be ids; `eng-oncall`, `group-7` and
# `Katherine` are names only (UUIDs are ids of their own).
ID_SHAPED = re.compile(r"(?=[A-Za-z]*\d)[A-Za-z0-9]{6,64}")
SLACK_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})>")


def _unwrapped(markup: re.Match[str]) -> str:
    target, label = markup.group(1), markup.group(2)
    if target.startswith("mailto:"):
        return target.removeprefix("mailto:")
    if target.startswith(("@U", "@W")):
        return f"<{target}>"
    if target.startswith("#C"):
        return f"#{label}" if label else target
    if target.startswith("!"):
        return label or ""
    return target  # a link: its URL, whatever its label says


def read_command(text: str, readings: Sequence[Reading], *, page_size: int) -> Show | ShowHelp | BadInput:
    """Give back what the command's text asks for, read by the kind of answer whose options it
    names (or whose words it is); never raises."""
    parts = read_parts(text, [option for reading in readings for option in reading.options])
    if not isinstance(parts, Parts):
        return parts
    asked = [reading for reading in readings if parts.options & {option.name for option in reading.options}]
    if len(asked) > 1 or (asked and parts.words and not asked[0].words):
        return one_at_a_time([o for reading in asked for o in reading.options if o.name in parts.options])
    for reading in asked or sorted(readings, key=lambda reading: reading.fallback):
        request = reading.read(parts, page_size)
        if request is not None:
            return request
    return NOT_A_QUESTION


def read_parts(text: str, options: Sequence[Option]) -> Parts | ShowHelp | BadInput:
    """Give back the command's parts, or help, or why the text cannot be read."""
    # Control and format characters (zero-width spaces, bidi overrides) become spaces.
    text = "".join(
        " " if unicodedata.category(character) in ("Cc", "Cf") else character
        for character in unicodedata.normalize("NFKC", text).translate(QUOTES)
    )
    if len(text) > MAX_TEXT_LENGTH:
        return BadInput(f"That is too long for one command: keep it under {MAX_TEXT_LENGTH:,} characters.")
    tokens = [_Token(*match.groups()) for match in TOKEN.finditer(text)]
    if [token.text.lower() for token in tokens] in (["help"], ["?"], ["-h"], ["--help"]):
        return ShowHelp()
    named = {name: option for option in (*options, PROVIDER) for name in option.names}
    bare = {option.name: option for option in options if option.bare}
    parts = Parts()
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token.plain is not None and (alone := bare.get(token.plain.lower())) is not None:
            parts.windows[alone.name] = alone.bare
            continue
        if token.plain is not None and LINK.match(token.plain):  # `https://…` is a word, not an option
            parts.words.append(token.plain)
            continue
        if token.plain is not None:
            key, colon, value = token.plain.partition(":")
            quoted = False
        elif token.key is not None:
            key, colon, value, quoted = token.key, ":", token.text, True
        else:
            parts.words.append(token.text)
            continue
        option = named.get(key.lower()) if colon else None
        if colon and option is None and (near := difflib.get_close_matches(key.lower(), named, n=1)):
            return BadInput(
                f"`{key}:` is not an option: did you mean `{near[0]}:`, as in "
                f"`/scim-groups {near[0]}:{value[:60]}`?"
            )
        if colon and option is None and re.fullmatch(r"[A-Za-z]{1,12}", key):
            return BadInput(
                f"`{key}:` is not an option. The options are {_listed((*options, PROVIDER))}; "
                f'to search for a name with a colon in it, put it in quotes: `"{key}:{value}"`.'
            )
        if option is None:
            parts.words.append(token.text)
            continue
        if value == "" and not quoted and position < len(tokens):  # `id: abc` as well as `id:abc`
            value, quoted = tokens[position].text, tokens[position].plain is None
            position += 1
        problem = _take_option(parts, option, key.lower(), value, quoted=quoted)
        if problem is not None:
            return problem
    if len(tokens) == 1 and parts.words and tokens[0].plain is not None:  # one bare word, unquoted
        parts.near = next(
            iter(difflib.get_close_matches(parts.words[0].lower(), bare, n=1, cutoff=0.8)), None
        )
    return parts


# `idp:` names the identity provider any kind of answer looks in.
PROVIDER = Option(("idp",), '"Azure AD"')


def _listed(options: Sequence[Option]) -> str:
    """Give back the options as a sentence lists them: `id:`, `external:` (or `ext:`) and `idp:`."""
    names = [
        f"`{option.name}:`" + "".join(f" (or `{alias}:`)" for alias in option.listed) for option in options
    ]
    return ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class _Token:
    key: str | None
    double: str | None
    single: str | None
    plain: str | None

    @property
    def text(self) -> str:
        """Give back the token's value, without its key and quotes."""
        for value in (self.double, self.single, self.plain):
            if value is not None:
                return value
        return ""


def _take_option(parts: Parts, option: Option, key: str, value: str, *, quoted: bool) -> BadInput | None:
    if value.strip() == "":
        return BadInput(f"`{key}:` needs a value after it, like `{key}:{option.example}`.")
    if option is PROVIDER:
        if parts.provider is not None:
            return BadInput("Name one identity provider with `idp:`; a command looks in one at a time.")
        parts.provider = value.strip()
        return None
    if option.window:
        seconds, shown, days = _span(value), value.strip()[:20], MAX_WINDOW_SECONDS // 86_400
        if seconds is None:
            return BadInput(
                f"`{shown}` is not a window: give a number and a unit (m, h, d or w) of "
                f"at most {days} days, like `{key}:{option.example}`."
            )
        if seconds > MAX_WINDOW_SECONDS:
            return BadInput(f"`{shown}` is too long a window: at most {days} days, like `{key}:{days}d`.")
        if seconds < 60:
            return BadInput(f"`{shown}` is too short a window: at least a minute, like `{key}:1m`.")
        parts.windows[option.name] = seconds
        return None
    values = [value.strip()] if quoted else [v for v in re.split(r"[,\s]+", value) if v]
    if not values:
        return BadInput(f"`{key}:` needs a value after it, like `{key}:{option.example}`.")
    parts.values.setdefault(option.name, []).extend(values)
    return None


def window_seconds(text: str) -> int | None:
    """Give back the seconds a window such as `30m`, `6h`, `3d` or `2w` spans, or None if it is
    not one (or is under a minute or over the longest window)."""
    seconds = _span(text)
    return seconds if seconds is not None and 60 <= seconds <= MAX_WINDOW_SECONDS else None


def _span(text: str) -> int | None:
    """Give back the seconds `text` spans as a number and a unit, whatever its length."""
    match = WINDOW.fullmatch(text.strip())
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)[0].lower()] if match else None


def console_link(*paths: str) -> re.Pattern[str]:
    """Give back what matches a link to a page of an identity provider's admin console whose
    path holds an id after one of `paths` (`/admin/group/`): the id is its first group."""
    after = "|".join(re.escape(path) for path in paths)
    return re.compile(rf"https?://[^\s/]+\S*?(?:{after})([0-9A-Za-z-]{{6,64}})(?:[/?#&]\S*)?", re.IGNORECASE)


def unique(values: Sequence[str]) -> list[str]:
    """Give back the values once each, in the order given, without the commas around them."""
    return list(dict.fromkeys(value.strip(",") for value in values if value.strip(",")))


def encode_button(show: Show) -> str:
    """Give back a button value that `decode_button` turns back into `show`.

    The provider must be resolved to its UUID first: a name could later mean another provider.
    """
    query = show.query
    state: dict[str, Any] = {"v": BUTTON_VERSION, "i": query.provider, "p": show.page, "n": show.page_size}
    # UUIDs travel as 32 hex digits joined by commas: 50 of them must fit in one button.
    for key, value in (
        ("q", query.search),
        ("c", ",".join(_compact(id_) for id_ in query.ids)),
        ("x", list(query.external_ids)),
        ("a", ",".join(_compact(id_) for id_ in query.either_ids)),
        ("u", list(query.users)),
        ("f", query.failures),
        ("h", query.changed),
        ("t", query.until),
        ("w", list(query.why)),
    ):
        if value:
            state[key] = value
    if show.shared:
        state["s"] = 1
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False)


def decode_button(value: str) -> Show | BadInput:
    """Give back the page a button value leads to, or why it cannot be used."""
    state = _state(value)
    if state is None:
        return OUTDATED
    provider, page, size, shared = state.get("i"), state.get("p"), state.get("n"), state.get("s", 0)
    if not isinstance(provider, str) or not UUID_PATTERN.match(provider):
        return OUTDATED
    if not _whole(page, 1, MAX_PAGE) or not _whole(size, 1, MAX_PAGE_SIZE) or shared not in (0, 1):
        return OUTDATED
    search, external_ids, users = state.get("q", ""), state.get("x", []), state.get("u", [])
    ids, either_ids = _uuids(state.get("c", "")), _uuids(state.get("a", ""))
    if not isinstance(search, str) or len(search) > MAX_VALUE_LENGTH:
        return OUTDATED
    why = state.get("w", [])
    if not _values(external_ids) or not _values(users) or ids is None or either_ids is None:
        return OUTDATED
    if not _values(why) or len(why) not in (0, 2):
        return OUTDATED
    failures, changed, until = state.get("f", 0), state.get("h", 0), state.get("t", 0)
    windows = [window for window in (failures, changed) if window != 0]
    if not all(_whole(window, 60, MAX_WINDOW_SECONDS) for window in windows):
        return OUTDATED
    if not _whole(until, 0, 2**33) or bool(windows) != bool(until):  # a window always has its end
        return OUTDATED
    if sum(bool(values) for values in [search, ids, external_ids, either_ids, users, why, *windows]) > 1:
        return OUTDATED
    query = Query(
        provider.lower(),
        search,
        ids,
        tuple(external_ids),
        either_ids,
        tuple(users),
        failures,
        changed,
        until,
        tuple(why),
    )
    return Show(query, page=page, page_size=size, shared=bool(shared))


def encode_detail(detail: Detail) -> str:
    """Give back a button value that `decode_detail` turns back into `detail`."""
    return detail_encoder(detail.back)(detail.kind, detail.group_id)


def detail_encoder(back: Show) -> Callable[[Literal["history", "used_by"], str], str]:
    """Give back what encodes the details opened from the page `back`, whose JSON is made once:
    a page draws two for each group."""
    head, tail = f'{{"v":{BUTTON_VERSION},"d":"', f'","b":{encode_button(back)}}}'

    def encode(kind: Literal["history", "used_by"], group_id: str) -> str:
        # `group_id` is a UUID and `kind` one of two words: nothing in them needs escaping.
        return f'{head}{kind}","g":"{_compact(group_id)}{tail}'

    return encode


def decode_detail(value: str) -> Detail | BadInput:
    """Give back the detail a button value opens, or why it cannot be used."""
    state = _state(value)
    if state is None:
        return OUTDATED
    kind, group, back = state.get("d"), _uuids(state.get("g")), decode_button(json.dumps(state.get("b")))
    if kind not in ("history", "used_by") or group is None or len(group) != 1 or isinstance(back, BadInput):
        return OUTDATED
    return Detail(kind, group[0], back)


@dataclass(frozen=True)
class Click:
    """A click on one of the bot's buttons: which button (its action id, without the suffix that
    keeps ids unique in a message) and what the click asks for, or why it cannot be used."""

    action_id: str
    asks: Show | Detail | BadInput

    @property
    def action(self) -> str:
        """Give back the button's action (`next`, `refresh`, `share`, `history`, …) as the
        audit line names it."""
        return self.action_id.removeprefix(ACTION_PREFIX)


def decode_click(action_id: str, value: str) -> Click:
    """Give back what a click on the button `action_id`, whose value is `value`, asks for."""
    action_id = action_id.partition(":")[0]  # a suffix keeps action ids unique in one message
    if action_id in (ACTION_HISTORY, ACTION_USED_BY):
        detail = decode_detail(value)
        if isinstance(detail, BadInput) or detail.kind != action_id.removeprefix(ACTION_PREFIX):
            return Click(action_id, OUTDATED)  # History's value on Used by
        return Click(action_id, detail)
    if action_id not in ACTIONS:
        return Click(action_id, BadInput("That button is not one this bot knows; run `/scim-groups` again."))
    return Click(action_id, decode_button(value))


def _state(value: str) -> dict[str, Any] | None:
    """Give back a button's state, if it is a JSON object of this version."""
    try:
        state = json.loads(value)
    except (TypeError, ValueError, RecursionError):
        return None
    return state if isinstance(state, dict) and state.get("v") == BUTTON_VERSION else None


def _compact(uuid: str) -> str:
    return uuid.replace("-", "")


def _uuids(value: object) -> tuple[str, ...] | None:
    """Give back the UUIDs a button carries (32 hex digits each, commas between), or None if any
    is not one."""
    if not isinstance(value, str):
        return None
    if not value:
        return ()
    parts = value.split(",")
    if len(parts) > MAX_IDS or not all(re.fullmatch(r"[0-9a-f]{32}", part) for part in parts):
        return None
    return tuple(f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-{p[20:]}" for p in parts)


def _whole(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _values(value: object) -> TypeGuard[list[str]]:
    return (
        isinstance(value, list)
        and len(value) <= MAX_IDS
        and all(isinstance(item, str) and 0 < len(item) <= MAX_VALUE_LENGTH for item in value)
    )
