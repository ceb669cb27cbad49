"""Request bodies for the load generators, signed ahead of time.

wrk's LuaJIT has no HMAC, so every callback body is built and signed here,
each bet with a fresh action id and round id, and written to a file of one
request a line: the value of one header (the signature, or the operator's
`Authorization`), a tab, and the body. `examples/bench/signed_bodies.lua`
and the open-loop generator both read that format; a compact JSON body never
holds a raw tab or newline, so the split is unambiguous.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from contracts.signing import hmac_sha256_hex

GAME = "example-studio:fruit-reels"
CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """One request as the generators send it: one header's value and a body."""

    header: str
    body: bytes


def bet_body(player: str, round_id: str, action_id: str, amount: int = 1) -> bytes:
    """Return a SoftSwiss `/play` body with one bet, opening its own round."""
    return orjson.dumps(
        {
            "user_id": player,
            "currency": CURRENCY,
            "game": GAME,
            "game_id": round_id,
            "finished": False,
            "actions": [{"action": "bet", "action_id": action_id, "amount": amount}],
        }
    )


def signed_bets(
    auth_token: str, players: list[str], count: int, prefix: str
) -> Iterator[SignedRequest]:
    """Yield `count` signed bets, each with a fresh action id, across the players.

    `prefix` keeps the ids of one run phase apart from every other phase's,
    so no bet of the benchmark is ever a replay of another.
    """
    key = auth_token.encode()
    for index in range(count):
        body = bet_body(
            players[index % len(players)],
            round_id=f"{prefix}-r{index}",
            action_id=f"{prefix}-a{index}",
        )
        yield SignedRequest(hmac_sha256_hex(key, body), body)


def launches(api_key: str, players: list[str], count: int) -> Iterator[SignedRequest]:
    """Yield `count` `POST /v1/sessions` bodies for the players, in turn."""
    header = f"Bearer {api_key}"
    for index in range(count):
        body = orjson.dumps(
            {
                "player": players[index % len(players)],
                "game": GAME,
                "currency": CURRENCY,
            }
        )
        yield SignedRequest(header, body)


def write_requests(path: Path, requests: Iterable[SignedRequest]) -> int:
    """Write requests one a line (`header<TAB>body`); return how many."""
    written = 0
    with path.open("wb") as out:
        for request in requests:
            out.write(request.header.encode() + b"\t" + request.body + b"\n")
            written += 1

    return written


def read_requests(path: Path) -> list[SignedRequest]:
    """Read a file written by `write_requests`."""
    requests = []
    with path.open("rb") as lines:
        for line in lines:
            header, _, body = line.rstrip(b"\n").partition(b"\t")
            requests.append(SignedRequest(header.decode(), body))

    return requests
