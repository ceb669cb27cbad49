"""The studio's side of the wallet protocol: signed `/play` and `/rollback` calls.

`StudioClient` sends the callbacks a SoftSwiss-protocol studio sends to a
casino (here, to a gamegate provider instance) over real HTTP, signs each
body with `X-REQUEST-SIGN`, and checks the signature of every answer. Ids and
amounts it makes up come from `random.Random(seed)`, so a run is repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import orjson

from contracts.signing import hmac_sha256_hex, same_signature

SIGNATURE_HEADER = "X-REQUEST-SIGN"
DEFAULT_GAME = "example-studio:fruit-reels"
BETS = (10, 20, 50, 100, 200)
MULTIPLIERS = (1, 2, 3, 5, 10, 25)
INSUFFICIENT_FUNDS = 100


@dataclass(frozen=True, slots=True)
class StudioAnswer:
    """One callback the studio sent and the casino's answer to it."""

    path: str
    request_body: bytes
    status: int
    body: bytes
    document: Mapping[str, Any]
    signed: bool

    @property
    def ok(self) -> bool:
        """Whether the casino accepted the callback."""
        return self.status == 200

    @property
    def code(self) -> int | None:
        """The protocol's error code, or None for a success."""
        code = self.document.get("code")
        return None if self.ok or type(code) is not int else code

    @property
    def balance(self) -> int | None:
        """The balance in minor units the answer carries, if any."""
        balance = self.document.get("balance")
        return balance if type(balance) is int else None

    def transaction(self, action_id: str) -> Mapping[str, Any] | None:
        """Return the answer's transaction entry for an action id, if any."""
        for entry in self.document.get("transactions") or ():
            if isinstance(entry, dict) and entry.get("action_id") == action_id:
                return entry
        return None


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """What happened in one round `play_round` played."""

    round_id: str
    user_id: str
    currency: str
    bet: int
    win: int | None
    bet_action_id: str
    win_action_id: str | None
    rollback_action_id: str | None
    answers: tuple[StudioAnswer, ...]
    balance_after: int | None

    @property
    def refused(self) -> bool:
        """Whether the casino refused the round's bet."""
        return not self.answers[0].ok


@dataclass(frozen=True, slots=True)
class _Envelope:
    user_id: str
    currency: str
    game: str
    round_id: str


class StudioClient:
    """Plays rounds against a casino's callback URL the way the studio does.

    `callback_url` is the base the casino gave the studio, for example
    `http://127.0.0.1:8080/providers/studio-direct/`; `play` and `rollback`
    are appended to it.
    """

    def __init__(
        self,
        callback_url: str,
        auth_token: str,
        *,
        seed: int = 0,
        game: str = DEFAULT_GAME,
        id_prefix: str = "sim",
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.callback_url = callback_url.rstrip("/") + "/"
        self.game = game
        self._key = auth_token.encode()
        self._random = random.Random(seed)
        self._prefix = id_prefix
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._sent: dict[str, _Envelope] = {}

    async def __aenter__(self) -> StudioClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this studio client created it."""
        if self._owns_http:
            await self._http.aclose()

    def new_id(self, kind: str = "a") -> str:
        """Return a fresh id for a round (`r`) or an action (`a`)."""
        return f"{self._prefix}-{kind}{self._random.getrandbits(64):016x}"

    async def balance(
        self, user_id: str, currency: str, *, game: str | None = None
    ) -> StudioAnswer:
        """Ask for the player's balance: a `/play` without actions."""
        document = {
            "user_id": user_id,
            "currency": currency,
            "game": game or self.game,
        }

        return await self.send("play", document)

    async def bet(
        self,
        user_id: str,
        currency: str,
        amount: int,
        *,
        round_id: str | None = None,
        action_id: str | None = None,
        game: str | None = None,
        finished: bool = False,
    ) -> StudioAnswer:
        """Send a bet of `amount` minor units, opening a round unless one is given."""
        envelope = self._envelope(user_id, currency, game, round_id)
        action = {
            "action": "bet",
            "action_id": action_id or self.new_id(),
            "amount": amount,
        }

        return await self._play(envelope, [action], finished)

    async def win(
        self,
        user_id: str,
        currency: str,
        amount: int,
        *,
        round_id: str,
        action_id: str | None = None,
        game: str | None = None,
        finished: bool = True,
    ) -> StudioAnswer:
        """Send a win of `amount` minor units, closing the round by default."""
        envelope = self._envelope(user_id, currency, game, round_id)
        action = {
            "action": "win",
            "action_id": action_id or self.new_id(),
            "amount": amount,
        }

        return await self._play(envelope, [action], finished)

    async def bet_and_win(
        self,
        user_id: str,
        currency: str,
        bet: int,
        win: int,
        *,
        round_id: str | None = None,
        game: str | None = None,
    ) -> StudioAnswer:
        """Send a bet and its win in one finished request, as instant games do."""
        envelope = self._envelope(user_id, currency, game, round_id)
        actions = [
            {"action": "bet", "action_id": self.new_id(), "amount": bet},
            {"action": "win", "action_id": self.new_id(), "amount": win},
        ]

        return await self._play(envelope, actions, finished=True)

    async def finish(
        self, user_id: str, currency: str, round_id: str, *, game: str | None = None
    ) -> StudioAnswer:
        """Close a round without any action: `finished` with no actions."""
        envelope = self._envelope(user_id, currency, game, round_id)

        return await self._play(envelope, [], finished=True)

    async def rollback(
        self,
        original_action_id: str,
        *,
        action_id: str | None = None,
        user_id: str | None = None,
        currency: str | None = None,
        round_id: str | None = None,
        game: str | None = None,
        finished: bool = False,
    ) -> StudioAnswer:
        """Roll back an action this client sent, or one named by its envelope.

        For an action this client never sent (to test unknown rollbacks),
        `user_id`, `currency` and `round_id` say whose it was.
        """
        sent = self._sent.get(original_action_id)
        if sent is None:
            if user_id is None or currency is None or round_id is None:
                raise LookupError(f"no envelope for action {original_action_id!r}")
            sent = _Envelope(user_id, currency, game or self.game, round_id)
        envelope = _Envelope(
            user_id=user_id or sent.user_id,
            currency=currency or sent.currency,
            game=game or sent.game,
            round_id=round_id or sent.round_id,
        )
        document = {
            **_envelope_fields(envelope),
            "finished": finished,
            "actions": [
                {
                    "action": "rollback",
                    "action_id": action_id or self.new_id(),
                    "original_action_id": original_action_id,
                }
            ],
        }

        return await self.send("rollback", document)

    async def retransmit(self, answer: StudioAnswer) -> StudioAnswer:
        """Send exactly the same bytes as an earlier callback once more."""
        return await self.send_raw(answer.path, answer.request_body)

    async def play_round(
        self,
        user_id: str,
        currency: str,
        *,
        bet: int | None = None,
        win: int | None = None,
        game: str | None = None,
    ) -> RoundRecord:
        """Play one round: a bet, then a win (0 for a loss) that finishes it.

        A bet refused for lack of funds (code 100) or with a server error is
        rolled back, as the studio does when it cannot be sure of a bet.
        Amounts left out are drawn from the client's seeded random numbers.
        """
        amount = bet if bet is not None else self._random.choice(BETS)
        round_id = self.new_id("r")
        bet_id = self.new_id()
        bet_answer = await self.bet(
            user_id, currency, amount, round_id=round_id, action_id=bet_id, game=game
        )

        if not bet_answer.ok:
            return await self._refused_round(
                bet_answer, user_id, currency, amount, round_id, bet_id
            )

        payout = win if win is not None else self._draw_win(amount)
        win_id = self.new_id()
        win_answer = await self.win(
            user_id, currency, payout, round_id=round_id, action_id=win_id, game=game
        )

        return RoundRecord(
            round_id=round_id,
            user_id=user_id,
            currency=currency,
            bet=amount,
            win=payout,
            bet_action_id=bet_id,
            win_action_id=win_id,
            rollback_action_id=None,
            answers=(bet_answer, win_answer),
            balance_after=win_answer.balance if win_answer.ok else bet_answer.balance,
        )

    async def send(self, path: str, document: Mapping[str, Any]) -> StudioAnswer:
        """Serialise a document, sign it and send it to `path` below the base."""
        return await self.send_raw(path, orjson.dumps(document))

    async def send_raw(
        self, path: str, body: bytes, *, signature: str | None = None
    ) -> StudioAnswer:
        """Send raw bytes; `signature` overrides the real one ("" sends none)."""
        headers = {"Content-Type": "application/json"}
        signature = self._sign(body) if signature is None else signature
        if signature:
            headers[SIGNATURE_HEADER] = signature

        response = await self._http.post(
            self.callback_url + path, content=body, headers=headers
        )

        return StudioAnswer(
            path=path,
            request_body=body,
            status=response.status_code,
            body=response.content,
            document=_document(response.content),
            signed=same_signature(
                self._sign(response.content), response.headers.get(SIGNATURE_HEADER)
            ),
        )

    async def _refused_round(
        self,
        bet_answer: StudioAnswer,
        user_id: str,
        currency: str,
        amount: int,
        round_id: str,
        bet_id: str,
    ) -> RoundRecord:
        answers = [bet_answer]
        rollback_id = None
        balance = bet_answer.balance

        if bet_answer.code == INSUFFICIENT_FUNDS or bet_answer.status >= 500:
            rollback_id = self.new_id()
            rollback = await self.rollback(bet_id, action_id=rollback_id, finished=True)
            answers.append(rollback)
            if rollback.ok:
                balance = rollback.balance

        return RoundRecord(
            round_id=round_id,
            user_id=user_id,
            currency=currency,
            bet=amount,
            win=None,
            bet_action_id=bet_id,
            win_action_id=None,
            rollback_action_id=rollback_id,
            answers=tuple(answers),
            balance_after=balance,
        )

    def _draw_win(self, bet: int) -> int:
        # Roughly two rounds in five pay; the rest are losses closed by a 0 win.
        if self._random.random() < 0.4:
            return bet * self._random.choice(MULTIPLIERS)
        return 0

    def _envelope(
        self, user_id: str, currency: str, game: str | None, round_id: str | None
    ) -> _Envelope:
        return _Envelope(
            user_id=user_id,
            currency=currency,
            game=game or self.game,
            round_id=round_id or self.new_id("r"),
        )

    async def _play(
        self, envelope: _Envelope, actions: list[dict[str, Any]], finished: bool
    ) -> StudioAnswer:
        for action in actions:
            self._sent[action["action_id"]] = envelope
        document = {
            **_envelope_fields(envelope),
            "finished": finished,
            "actions": actions,
        }

        return await self.send("play", document)

    def _sign(self, body: bytes) -> str:
        return hmac_sha256_hex(self._key, body)


def _envelope_fields(envelope: _Envelope) -> dict[str, Any]:
    return {
        "user_id": envelope.user_id,
        "currency": envelope.currency,
        "game": envelope.game,
        "game_id": envelope.round_id,
    }


def _document(body: bytes) -> Mapping[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}
