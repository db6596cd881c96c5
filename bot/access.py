"""Who may use the bot: one policy, checked for every command and every click."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Refusal = Literal["team", "user", "channel"]


@dataclass(frozen=True)
class Caller:
    """Who sent a request, and from where, as Slack's signed payload says."""

    user_id: str
    channel_id: str
    team_id: str
    enterprise_id: str

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Caller:
        """Give back the caller of a slash command (form fields) or a click (block_actions JSON)."""
        if "actions" not in body and "user_id" in body:
            return cls(
                user_id=str(body.get("user_id") or ""),
                channel_id=str(body.get("channel_id") or ""),
                team_id=str(body.get("team_id") or ""),
                enterprise_id=str(body.get("enterprise_id") or ""),
            )
        user, team = body.get("user") or {}, body.get("team") or {}
        channel, container = body.get("channel") or {}, body.get("container") or {}
        return cls(
            user_id=str(user.get("id") or ""),
            channel_id=str(channel.get("id") or container.get("channel_id") or ""),
            team_id=str(team.get("id") or user.get("team_id") or ""),
            enterprise_id=str((body.get("enterprise") or {}).get("id") or ""),
        )


@dataclass(frozen=True)
class AccessPolicy:
    """Empty sets and no team mean: anyone in the workspace, anywhere."""

    users: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    team_id: str | None = None

    def refusal(self, caller: Caller, *, team_only: bool = False) -> Refusal | None:
        """Give back why `caller` may not be served, or None when they may (`team_only`: by the
        workspace alone, for what comes from no user or channel, such as a workflow step)."""
        if self.team_id is not None:
            home = caller.enterprise_id if self.team_id.startswith("E") else caller.team_id
            if home != self.team_id:
                return "team"
        if team_only:
            return None
        if self.users and caller.user_id not in self.users:
            return "user"
        if self.channels and caller.channel_id not in self.channels:
            return "channel"
        return None
