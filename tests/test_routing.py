"""Routing: match keys, weighted splits, fallback order, health, explanations.

Most tests build a `Router` from the config models alone; the end-to-end
ones run the gateway on loopback against two studio simulators, and the
`routes explain` command in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

from contracts.errors import ConfigError
from examples.softswiss_simulator.studio import Studio
from gateway.app import RUNTIME, build_app
from gateway.config import GameInfo, RoutesConfig, parse_config
from gateway.plugins import AdapterRegistry, load_adapters
from gateway.routing import RouteQuery, Router, explain

API_KEY = "casino-a-test-key-0123456789"
ADMIN_KEY = "admin-test-key-0123456789"
TOKEN = "studio-secret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
GAME = "example-studio:fruit-reels"
GAMES = {
    "example-studio:*": GameInfo(studio="example-studio", category="slots"),
    "example-studio:blackjack": GameInfo(studio="example-studio", category="table"),
}


def router(*rules: dict[str, Any], seed: str = "") -> Router:
    """Return a router over the given rules and the test games table."""
    return Router(RoutesConfig.model_validate({"games": rules, "seed": seed}), GAMES)


def query(**given: Any) -> RouteQuery:
    """Return a launch query for the test game, with the given fields."""
    return RouteQuery(**{"game": GAME, "operator": "casino-a", **given})


@pytest.fixture(scope="module")
def registry() -> AdapterRegistry:
    """The adapters installed with gamegate."""
    return load_adapters()


class TestMatching:
    @pytest.mark.parametrize(
        ("match", "given", "matches"),
        [
            ({"game": "example-studio:*"}, {}, True),
            ({"game": ["other:*", "*:fruit-reels"]}, {}, True),
            ({"game": "other:*"}, {}, False),
            ({"studio": "example-studio"}, {}, True),
            ({"studio": ["acme", "other"]}, {}, False),
            ({"category": "slots"}, {}, True),
            ({"category": "table"}, {}, False),
            ({"category": "table"}, {"game": "example-studio:blackjack"}, True),
            ({"operator": "casino-a"}, {}, True),
            ({"operator": ["casino-b"]}, {}, False),
            ({"brand": "luckyspin"}, {"brand": "luckyspin"}, True),
            ({"brand": "luckyspin"}, {}, False),
            ({"country": ["DE", "AT"]}, {"country": "AT"}, True),
            ({"country": "DE"}, {"country": "FR"}, False),
            ({"country": "DE"}, {}, False),
            ({"jurisdiction": "MGA"}, {"jurisdiction": "MGA"}, True),
            ({"jurisdiction": ["UKGC"]}, {"jurisdiction": "MGA"}, False),
            ({"currency": ["EUR", "USD"]}, {"currency": "USD"}, True),
            ({"currency": "BTC"}, {"currency": "EUR"}, False),
            ({"device": "mobile"}, {"device": "mobile"}, True),
            ({"device": "mobile"}, {"device": "desktop"}, False),
            ({"mode": "demo"}, {"mode": "demo"}, True),
            ({"mode": ["demo"]}, {"mode": "real"}, False),
            ({"country": "DE", "currency": "EUR"}, {"country": "DE"}, False),
            ({}, {}, True),
        ],
    )
    def test_each_match_key_selects_or_passes_its_rule(
        self, match: dict[str, Any], given: dict[str, Any], matches: bool
    ) -> None:
        """Every match key takes a value or a list; a request lacking it misses."""
        table = router({"match": match, "use": "a"}, {"use": "b"})

        route = table.route(query(**given))

        assert route.serves == ("a" if matches else "b")

    def test_first_matching_rule_wins(self) -> None:
        """Rules are tried in order, and later matches do not count."""
        table = router(
            {"match": {"country": "DE"}, "use": "a"},
            {"match": {"studio": "example-studio"}, "use": "b"},
        )

        assert table.route(query(country="DE")).serves == "a"
        assert table.route(query(country="FR")).serves == "b"

    def test_exact_games_entry_wins_over_a_pattern(self) -> None:
        """A game's own entry in `games:` beats any glob that also covers it."""
        table = router({"use": "a"})

        assert table.game_info("example-studio:blackjack")[1].category == "table"
        assert table.game_info(GAME) == ("example-studio:*", GAMES["example-studio:*"])
        assert table.game_info("unknown:game")[0] is None

    def test_no_rule_matches_leaves_no_candidate(self) -> None:
        """A request no rule matches has nowhere to go."""
        route = router({"match": {"country": "DE"}, "use": "a"}).route(query())

        assert route.serves is None
        assert route.rule is None
        assert "country" in route.tried[0].reason


class TestSplit:
    def test_seeded_split_lands_within_two_percent_of_the_weights(self) -> None:
        """10 000 players over a seeded 90/10 split land within ±2 points."""
        table = router(
            {"split": [{"use": "a", "weight": 90}, {"use": "b", "weight": 10}]},
            seed="test-seed",
        )

        sides = Counter(
            table.route(query(player=f"player-{n}")).serves for n in range(10_000)
        )

        assert abs(sides["b"] / 10_000 - 0.10) <= 0.02
        assert sides["a"] + sides["b"] == 10_000

    def test_a_player_stays_on_one_side(self) -> None:
        """The same player lands on the same side every time."""
        table = router(
            {"split": [{"use": "a", "weight": 1}, {"use": "b", "weight": 1}]}
        )

        sides = {table.route(query(player="player-7")).serves for _ in range(50)}

        assert len(sides) == 1

    def test_moving_weight_moves_only_the_players_in_between(self) -> None:
        """Going from 10 % to 20 % on b keeps every player already on b there."""
        rule = {"name": "canary", "match": {"studio": "example-studio"}}
        before = router(
            {**rule, "split": [{"use": "a", "weight": 90}, {"use": "b", "weight": 10}]}
        )
        after = router(
            {**rule, "split": [{"use": "a", "weight": 80}, {"use": "b", "weight": 20}]}
        )

        players = [f"player-{n}" for n in range(2_000)]
        on_b = {p for p in players if before.route(query(player=p)).serves == "b"}
        now_b = {p for p in players if after.route(query(player=p)).serves == "b"}

        assert on_b < now_b

    def test_the_seed_reshuffles_sides(self) -> None:
        """Two seeds put different players on each side of the same split."""
        split = {"split": [{"use": "a", "weight": 1}, {"use": "b", "weight": 1}]}
        first, second = router(split, seed="one"), router(split, seed="two")

        players = [f"player-{n}" for n in range(200)]
        moved = [
            p
            for p in players
            if first.route(query(player=p)).serves
            != second.route(query(player=p)).serves
        ]

        assert 50 < len(moved) < 150

    def test_zero_weight_share_gets_no_one(self) -> None:
        """A share whose weight is 0 receives no player."""
        table = router(
            {"split": [{"use": "a", "weight": 0}, {"use": "b", "weight": 5}]}
        )

        sides = {table.route(query(player=f"p-{n}")).serves for n in range(500)}

        assert sides == {"b"}

    def test_split_without_a_player_names_no_side(self) -> None:
        """Without a player the explanation gives the weights, not a side."""
        table = router(
            {"split": [{"use": "a", "weight": 3}, {"use": "b", "weight": 1}]}
        )

        document = explain(table.route(query()))

        assert document["serves"] is None
        assert any("a weight 3 (75.0%)" in line for line in document["lines"])


class TestFallbackAndHealth:
    def test_fallback_follows_the_chosen_instance_in_order(self) -> None:
        """Candidates are the chosen instance, then the fallbacks as listed."""
        table = router({"use": "a", "fallback": ["c", "b"]})

        assert table.route(query()).candidates == ("a", "c", "b")

    def test_split_side_is_not_repeated_in_its_fallback(self) -> None:
        """A split's chosen side listed again as a fallback is tried once."""
        table = router(
            {"split": [{"use": "a", "weight": 1}], "fallback": ["a", "b"]},
        )

        assert table.route(query(player="p")).candidates == ("a", "b")

    def test_unhealthy_instance_is_skipped_while_a_fallback_exists(self) -> None:
        """An instance whose breaker is open takes no new launch if another can."""
        table = router({"use": "a", "fallback": ["b", "c"]})

        route = table.route(query(), {"a": "breaker open"}.get)

        assert route.candidates == ("b", "c")
        assert route.unhealthy == (("a", "breaker open"),)
        assert not route.all_unhealthy

    def test_every_candidate_unhealthy_still_tries_the_preferred_one(self) -> None:
        """When no candidate is healthy the preferred one alone is tried anyway."""
        table = router({"use": "a", "fallback": ["b"]})

        route = table.route(query(), lambda name: "breaker open")
        document = explain(route)

        assert route.candidates == ("a",)
        assert route.all_unhealthy
        assert "trying a anyway" in document["lines"][-2]


class TestConfig:
    @pytest.mark.parametrize(
        ("rule", "named"),
        [
            (
                {
                    "use": "studio-direct",
                    "split": [{"use": "studio-direct", "weight": 1}],
                },
                "routes.games.0",
            ),
            ({"match": {"game": "*"}}, "routes.games.0"),
            (
                {
                    "split": [
                        {"use": "studio-direct", "weight": 1},
                        {"use": "nowhere", "weight": 1},
                    ]
                },
                "routes.games.0.split.1.use",
            ),
            (
                {"use": "studio-direct", "fallback": ["nowhere"]},
                "routes.games.0.fallback.0",
            ),
            (
                {
                    "use": "studio-direct",
                    "fallback": ["studio-direct", "studio-direct"],
                },
                "routes.games.0",
            ),
            ({"split": [{"use": "studio-direct", "weight": 0}]}, "routes.games.0"),
            (
                {"match": {"country": "de"}, "use": "studio-direct"},
                "routes.games.0.match.country",
            ),
            (
                {"match": {"device": "tablet"}, "use": "studio-direct"},
                "routes.games.0.match.device",
            ),
            (
                {"match": {"colour": "blue"}, "use": "studio-direct"},
                "routes.games.0.match.colour",
            ),
            ({"games": ["*"], "match": {}, "use": "studio-direct"}, "routes.games.0"),
        ],
    )
    def test_bad_rule_is_refused_with_its_key_path(
        self, registry: AdapterRegistry, rule: dict[str, Any], named: str
    ) -> None:
        """A rule that cannot route names the key at fault."""
        with pytest.raises(ConfigError) as raised:
            parse_config(config_data("http://127.0.0.1:1", [rule]), registry, {})

        assert named in raised.value.message

    def test_older_games_shorthand_still_routes(
        self, registry: AdapterRegistry
    ) -> None:
        """`games: [patterns]` in a rule reads as `match.game`."""
        data = config_data(
            "http://127.0.0.1:1", [{"games": ["example-*"], "use": "studio-direct"}]
        )

        config = parse_config(data, registry, {})

        assert config.routes.games[0].match.game == ("example-*",)


def config_data(
    base_url: str, rules: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """Return a config with one studio instance and the given rules."""
    return {
        "database": "sqlite:///unused.db",
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "providers": {
            "studio-direct": {
                "adapter": "softswiss",
                "base_url": base_url,
                "auth_token": TOKEN,
                "casino_id": "casino-a",
            }
        },
        "routes": {"games": rules},
        **extra,
    }


def two_studios(
    tmp_path: Path, urls: tuple[str, str], rules: list[dict[str, Any]]
) -> dict[str, Any]:
    """Return a config with studios `a` and `b`, the games table and admin on."""
    provider = {"adapter": "softswiss", "auth_token": TOKEN, "casino_id": "casino-a"}
    return {
        "database": f"sqlite:///{tmp_path / 'gamegate.db'}",
        "operators": [{"name": "casino-a", "api_keys": [API_KEY]}],
        "admin": {"api_keys": [ADMIN_KEY]},
        "providers": {
            "studio-a": {**provider, "base_url": urls[0]},
            "studio-b": {**provider, "base_url": urls[1]},
        },
        "games": {
            "example-studio:*": {"studio": "example-studio", "category": "slots"}
        },
        "routes": {"games": rules},
    }


RULES = [
    {"name": "germany", "match": {"country": ["DE", "AT"]}, "use": "studio-b"},
    {
        "name": "canary",
        "match": {"studio": "example-studio", "currency": "EUR"},
        "split": [{"use": "studio-a", "weight": 90}, {"use": "studio-b", "weight": 10}],
        "fallback": ["studio-b"],
    },
]


@pytest.fixture
async def studios() -> AsyncIterator[tuple[Studio, Studio, str, str]]:
    """Two studio simulators on loopback."""
    first, second = Studio(TOKEN), Studio(TOKEN)
    async with first.serve() as url_a, second.serve() as url_b:
        yield first, second, url_a, url_b


@pytest.fixture
async def gateway(
    aiohttp_client: Any,
    tmp_path: Path,
    registry: AdapterRegistry,
    studios: tuple[Studio, Studio, str, str],
) -> TestClient[web.Request, web.Application]:
    """The gateway routing between the two studios by `RULES`."""
    config = parse_config(two_studios(tmp_path, studios[2:], RULES), registry, {})
    client: TestClient[web.Request, web.Application] = await aiohttp_client(
        build_app(config, registry)
    )
    return client


async def test_launches_follow_the_rules_end_to_end(
    gateway: TestClient[Any, Any], studios: tuple[Studio, Studio, str, str]
) -> None:
    """A German launch goes to b, the rest split between a and b by player."""
    german = await gateway.post(
        "/v1/sessions",
        headers=AUTH,
        json={"player": "p-de", "game": GAME, "currency": "EUR", "country": "DE"},
    )
    sides = Counter()
    for n in range(40):
        answer = await gateway.post(
            "/v1/sessions",
            headers=AUTH,
            json={"player": f"p-{n}", "game": GAME, "currency": "EUR"},
        )
        sides[(await answer.json())["provider"]] += 1

    assert (await german.json())["provider"] == "studio-b"
    assert sides["studio-a"] > sides["studio-b"]
    assert studios[0].received["sessions"] == sides["studio-a"]


async def test_admin_explain_gives_the_cli_answer_with_live_health(
    gateway: TestClient[Any, Any], tmp_path: Path, registry: AdapterRegistry
) -> None:
    """`GET /admin/routes/explain` and `routes explain --json` agree."""
    params = {
        "game": GAME,
        "country": "FR",
        "currency": "EUR",
        "operator": "casino-a",
        "player": "player-1",
    }
    answer = await gateway.get("/admin/routes/explain", params=params, headers=ADMIN)
    document = await answer.json()
    path = tmp_path / "routes.yaml"
    path.write_text(
        yaml.safe_dump(two_studios(tmp_path, ("http://x", "http://y"), RULES))
    )

    done = run_explain(path, *(f"--{k}={v}" for k, v in params.items()), "--json")
    printed = json.loads(done.stdout)

    assert answer.status == 200
    assert document["health_known"] and not printed["health_known"]
    for key in ("request", "game", "skipped_rules", "rule", "position", "serves"):
        assert document[key] == printed[key], key
    assert document["serves"] in ("studio-a", "studio-b")


async def test_admin_explain_shows_what_health_removed(
    gateway: TestClient[Any, Any],
) -> None:
    """An open breaker on the chosen instance shows up as skipped, with the reason."""
    runtime = gateway.app[RUNTIME]
    breaker = runtime.snapshot.providers["studio-b"].breaker
    for _ in range(breaker.threshold):
        breaker.failed(breaker.admit())

    answer = await gateway.get(
        "/admin/routes/explain",
        params={"game": GAME, "country": "DE", "currency": "EUR"},
        headers=ADMIN,
    )
    document = await answer.json()

    assert document["serves"] == "studio-b"
    assert document["all_unhealthy"]
    assert document["unhealthy"] == {"studio-b": "breaker open"}


def test_routes_explain_prints_the_rule_weights_and_choice(tmp_path: Path) -> None:
    """`gamegate routes explain` says which rule matched, the weights and the pick."""
    path = tmp_path / "routes.yaml"
    path.write_text(
        yaml.safe_dump(two_studios(tmp_path, ("http://x", "http://y"), RULES))
    )

    done = run_explain(
        path, f"--game={GAME}", "--country=FR", "--currency=EUR", "--player=player-1"
    )

    assert done.returncode == 0, done.stderr
    assert (
        "rule 0 'germany': no match, country 'FR' is not one of DE, AT" in done.stdout
    )
    assert "rule 1 'canary': matched" in done.stdout
    assert "studio-a weight 90 (90.0%), studio-b weight 10 (10.0%)" in done.stdout
    assert "fallback: studio-b" in done.stdout
    assert "serves: studio-" in done.stdout


def test_routes_explain_exits_non_zero_when_nothing_serves(tmp_path: Path) -> None:
    """A request no rule matches is said so, with status 1."""
    path = tmp_path / "routes.yaml"
    path.write_text(
        yaml.safe_dump(two_studios(tmp_path, ("http://x", "http://y"), RULES[:1]))
    )

    done = run_explain(path, f"--game={GAME}", "--country=FR")

    assert done.returncode == 1
    assert "serves: nothing" in done.stdout


def run_explain(path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run `gamegate routes explain` on a config file."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "routes",
            "explain",
            "--config",
            str(path),
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
