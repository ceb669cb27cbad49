"""Routing: which provider instance serves a new launch, and why.

The rules of `routes.games` are tried in order and the first whose `match`
the request meets decides. Its target is one instance (`use`) or a weighted
`split`; a player's side of a split comes from a hash of the routes' seed,
the rule and the player, so one player stays on one side while the weights
stay put, and moving weight from one side to the other only moves the
players in between. The rule's `fallback` instances follow the chosen one.

Health then removes every candidate whose circuit breaker would refuse a
call, as long as one candidate is left; when none is, the preferred
instance alone is tried anyway, so its breaker (and not routing) answers.
Routing decides new launches only: a game session keeps the instance that
launched it, and nothing here is consulted for it again.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gateway.config import GameInfo, GameRoute, RouteMatch, RoutesConfig, SplitShare

# Returns why an instance should not take new launches, or None when it can.
Health = Callable[[str], str | None]

_KEYS = (
    "game",
    "studio",
    "category",
    "operator",
    "brand",
    "country",
    "jurisdiction",
    "currency",
    "device",
    "mode",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteQuery:
    """What routing knows about one launch request."""

    game: str
    operator: str | None = None
    player: str | None = None
    brand: str | None = None
    country: str | None = None
    jurisdiction: str | None = None
    currency: str | None = None
    device: str | None = "desktop"
    mode: str | None = "real"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule that did not match, and the first key that failed."""

    index: int
    name: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """The routing decision for one request, with everything that led to it.

    `candidates` are the instances to try in order; the first serves unless
    a launch fails before reaching it. `preferred` is None only when a split
    decides and no player was given.
    """

    query: RouteQuery
    studio: str | None
    category: str | None
    game_entry: str | None
    tried: tuple[Skipped, ...]
    index: int | None
    rule: GameRoute | None
    position: float | None
    preferred: str | None
    candidates: tuple[str, ...]
    unhealthy: tuple[tuple[str, str], ...]
    all_unhealthy: bool
    health_known: bool

    @property
    def serves(self) -> str | None:
        """Return the instance a launch goes to first, or None."""
        return self.candidates[0] if self.candidates else None


class Router:
    """The routing table of one configuration, immutable once built."""

    def __init__(
        self, routes: RoutesConfig, games: Mapping[str, GameInfo] | None = None
    ) -> None:
        self.rules: tuple[GameRoute, ...] = tuple(routes.games)
        self.seed = routes.seed
        games = games or {}
        self._exact = {key: info for key, info in games.items() if not _glob(key)}
        self._patterns = [(key, info) for key, info in games.items() if _glob(key)]

    def route(self, query: RouteQuery, health: Health | None = None) -> Route:
        """Decide which instances serve a request, in the order to try them."""
        entry, info = self.game_info(query.game)
        values = _values(query, info)

        tried: list[Skipped] = []
        for index, rule in enumerate(self.rules):
            reason = mismatch(rule.match, values)
            if reason is None:
                return self._decide(query, entry, info, tuple(tried), index, health)
            tried.append(Skipped(index, rule.name, reason))

        return Route(
            query=query,
            studio=info.studio,
            category=info.category,
            game_entry=entry,
            tried=tuple(tried),
            index=None,
            rule=None,
            position=None,
            preferred=None,
            candidates=(),
            unhealthy=(),
            all_unhealthy=False,
            health_known=health is not None,
        )

    def game_info(self, game: str) -> tuple[str | None, GameInfo]:
        """Return the `games:` entry that describes a game: exact id first."""
        if game in self._exact:
            return game, self._exact[game]
        for pattern, info in self._patterns:
            if fnmatch.fnmatchcase(game, pattern):
                return pattern, info

        return None, GameInfo()

    def table(self) -> list[dict[str, Any]]:
        """Return the rules as plain data, in the order they are tried."""
        return [rule_document(index, rule) for index, rule in enumerate(self.rules)]

    def _decide(
        self,
        query: RouteQuery,
        entry: str | None,
        info: GameInfo,
        tried: tuple[Skipped, ...],
        index: int,
        health: Health | None,
    ) -> Route:
        rule = self.rules[index]
        position = None
        preferred = rule.use
        if rule.split is not None and query.player is not None:
            key = rule.name or rule.match.model_dump_json(exclude_none=True)
            player = f"{query.operator or ''}:{query.player}"
            position = split_position(self.seed, key, player)
            preferred = pick(rule.split, position)

        ordered = _ordered(preferred, rule.fallback)
        unhealthy = [(name, why) for name in ordered if (why := _why(health, name))]
        removed = dict(unhealthy)
        healthy = [name for name in ordered if name not in removed]
        all_unhealthy = bool(ordered) and not healthy
        if all_unhealthy and preferred is not None:
            healthy = [preferred]

        return Route(
            query=query,
            studio=info.studio,
            category=info.category,
            game_entry=entry,
            tried=tried,
            index=index,
            rule=rule,
            position=position,
            preferred=preferred,
            candidates=tuple(healthy) if preferred is not None else (),
            unhealthy=tuple(unhealthy),
            all_unhealthy=all_unhealthy,
            health_known=health is not None,
        )


def mismatch(match: RouteMatch, values: Mapping[str, str | None]) -> str | None:
    """Return why a request does not meet a rule's match, or None when it does."""
    for key in _KEYS:
        wanted: tuple[str, ...] | None = getattr(match, key)
        if wanted is None:
            continue
        value = values.get(key)
        if value is None:
            return f"{key} is not known for this request"
        if key == "game":
            if not any(fnmatch.fnmatchcase(value, pattern) for pattern in wanted):
                return f"game {value!r} matches none of {', '.join(wanted)}"
        elif value not in wanted:
            return f"{key} {value!r} is not one of {', '.join(map(str, wanted))}"

    return None


def split_position(seed: str, rule: str, player: str) -> float:
    """Return a player's stable point in [0, 1) for one rule's split."""
    digest = hashlib.blake2b(
        "\x1f".join((seed, rule, player)).encode(), digest_size=8
    ).digest()

    return int.from_bytes(digest, "big") / 2**64


def pick(shares: Sequence[SplitShare], position: float) -> str:
    """Return the share a point in [0, 1) falls in, by cumulative weight."""
    total = sum(share.weight for share in shares)
    point = position * total
    reached = 0
    for share in shares:
        reached += share.weight
        if share.weight and point < reached:
            return share.use

    return next(share.use for share in reversed(shares) if share.weight)


def rule_document(index: int, rule: GameRoute) -> dict[str, Any]:
    """Return one rule as plain data, its unset match keys left out."""
    document: dict[str, Any] = {"index": index, "name": rule.name}
    document["match"] = rule.match.model_dump(mode="json", exclude_none=True)
    if rule.split is not None:
        document["split"] = [asdict(share) for share in _shares(rule.split)]
    else:
        document["use"] = rule.use
    document["fallback"] = list(rule.fallback)

    return document


def explain(route: Route) -> dict[str, Any]:
    """Return a routing decision as plain data, with readable `lines`."""
    rule = route.rule
    document: dict[str, Any] = {
        "request": {k: v for k, v in asdict(route.query).items() if v is not None},
        "game": {
            "studio": route.studio,
            "category": route.category,
            "entry": route.game_entry,
        },
        "skipped_rules": [asdict(skipped) for skipped in route.tried],
        "rule": None if rule is None else rule_document(route.index or 0, rule),
        "position": route.position,
        "preferred": route.preferred,
        "fallback": [] if rule is None else list(rule.fallback),
        "unhealthy": dict(route.unhealthy),
        "all_unhealthy": route.all_unhealthy,
        "health_known": route.health_known,
        "serves": route.serves,
    }
    document["lines"] = explanation_lines(route)

    return document


def explanation_lines(route: Route) -> list[str]:
    """Return a routing decision as sentences, one step per line."""
    request = " ".join(
        f"{key}={value}"
        for key, value in asdict(route.query).items()
        if value is not None
    )
    lines = [f"request: {request}", _game_line(route)]
    lines += [
        f"rule {skipped.index}{_label(skipped.name)}: no match, {skipped.reason}"
        for skipped in route.tried
    ]
    rule = route.rule
    if rule is None:
        return [*lines, "serves: nothing, no rule matches this request"]

    match = rule.match.model_dump(mode="json", exclude_none=True)
    wanted = "; ".join(f"{key} {' or '.join(values)}" for key, values in match.items())
    lines.append(f"rule {route.index}{_label(rule.name)}: matched {wanted or 'all'}")
    lines.append(_target_line(route, rule))
    if rule.fallback:
        lines.append(f"fallback: {', '.join(rule.fallback)}")
    lines += _health_lines(route)
    if route.preferred is None:
        lines.append("serves: depends on the player; give a player to see the side")
    else:
        lines.append(f"serves: {route.serves}")

    return lines


def _target_line(route: Route, rule: GameRoute) -> str:
    if rule.split is None:
        return f"use: {rule.use}"
    shares = ", ".join(
        f"{share.use} weight {share.weight} ({share.share:.1%})"
        for share in _shares(rule.split)
    )
    if route.position is None:
        return f"split: {shares}"

    return (
        f"split: {shares}; player {route.query.player} sits at "
        f"{route.position:.4f}, which falls to {route.preferred}"
    )


def _health_lines(route: Route) -> list[str]:
    if not route.health_known:
        return ["health: not known here; every instance is taken as healthy"]
    lines = [f"health: {name} {why}, skipped" for name, why in route.unhealthy]
    if route.all_unhealthy:
        lines = [f"health: {name} {why}" for name, why in route.unhealthy]
        lines.append(
            f"health: every candidate is unhealthy; trying {route.preferred} anyway"
        )
    return lines or ["health: every candidate is healthy"]


def _game_line(route: Route) -> str:
    if route.game_entry is None:
        return "game: not in the games table; studio and category unknown"

    return (
        f"game: studio {route.studio or 'unknown'}, category "
        f"{route.category or 'unknown'} (games table entry {route.game_entry!r})"
    )


@dataclass(frozen=True, slots=True)
class _Share:
    use: str
    weight: int
    share: float


def _shares(split: Sequence[SplitShare]) -> list[_Share]:
    total = sum(share.weight for share in split)

    return [_Share(share.use, share.weight, share.weight / total) for share in split]


def _values(query: RouteQuery, info: GameInfo) -> dict[str, str | None]:
    return {
        "game": query.game,
        "studio": info.studio,
        "category": info.category,
        "operator": query.operator,
        "brand": query.brand,
        "country": query.country,
        "jurisdiction": query.jurisdiction,
        "currency": query.currency,
        "device": query.device,
        "mode": query.mode,
    }


def _ordered(preferred: str | None, fallback: Sequence[str]) -> list[str]:
    first = [preferred] if preferred is not None else []

    return [*first, *(name for name in fallback if name != preferred)]


def _why(health: Health | None, instance: str) -> str | None:
    return None if health is None else health(instance)


def _label(name: str | None) -> str:
    return f" {name!r}" if name else ""


def _glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")
