"""Pragmatic Play's side of the seamless wallet: hashed form callbacks to a casino.

`PragmaticClient` sends the callbacks Pragmatic's game servers send to a
casino (here, to a gamegate provider instance) over real HTTP, hashes each
form with the secret key, and reads each JSON answer back into the
conformance kit's terms (`contracts.testing.client.KitAnswer`). It
implements `contracts.testing.client.ProviderClient`, plus the methods the
kit has no verb for (`authenticate`, `bonus_win`, `jackpot_win`,
`promo_win`, `adjustment`).

What Pragmatic would hold comes from the launch: the `token` the casino gave
(`{session_token}|{player}|{currency}`, see `launch_token`) and the `userId`
authenticate answered (`{player}|{currency}`). Ids the client makes up come
from `random.Random(seed)`, so a run is repeatable.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from contracts import AmountError, CurrencyTable, Money, Status, UnknownCurrency
from contracts.testing.client import KitAnswer
from examples.pragmatic_simulator.signing import pragmatic_hash, sign

DEFAULT_GAME = "vs20fruitreels"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MALFORMED_AMOUNT = "1e3"

# The protocol's error codes read back in the closed set of statuses.
CODE_STATUS: Mapping[int, Status] = {
    0: Status.OK,
    1: Status.INSUFFICIENT_FUNDS,
    2: Status.UNKNOWN_PLAYER,
    3: Status.GAME_NOT_ALLOWED,
    4: Status.INVALID_SESSION,
    5: Status.INVALID_SIGNATURE,
    6: Status.PLAYER_BLOCKED,
    7: Status.BAD_REQUEST,
    8: Status.GAME_NOT_ALLOWED,
    50: Status.LIMIT_REACHED,
    100: Status.RETRYABLE_ERROR,
    120: Status.FINAL_ERROR,
    130: Status.RETRYABLE_ERROR,
    210: Status.FINAL_ERROR,
    310: Status.LIMIT_REACHED,
}

# Codes 2, 4 and 7 cover several statuses; the gateway's `pragmatic` adapter
# says which in `description`, and these are its words.
DESCRIPTION_STATUS: Mapping[str, Status] = {
    "Player not found: no account in that currency": Status.WRONG_CURRENCY,
    "Player authentication failed: expired token": Status.SESSION_EXPIRED,
    "Bad parameters: no such bet for the player": Status.TRANSACTION_NOT_FOUND,
    "Bad parameters: reference reused differently": Status.TRANSACTION_MISMATCH,
    "Bad parameters: the round is already settled": Status.ALREADY_SETTLED,
    "Bad parameters: the bet was refunded": Status.ALREADY_ROLLED_BACK,
    "Bad parameters: the round has already ended": Status.ROUND_CLOSED,
}


def user_id(player: str, currency: str) -> str:
    """Return the `userId` the casino answers on authenticate for a player."""
    return f"{player}|{currency}"


def launch_token(session_token: str, player: str, currency: str) -> str:
    """Return the `token` the casino hands Pragmatic at launch."""
    return f"{session_token}|{user_id(player, currency)}"


def read_launch_token(token: str) -> tuple[str, str, str]:
    """Return the (session token, player, currency) a launch token names."""
    session, _, rest = token.partition("|")
    player, _, currency = rest.rpartition("|")

    return session, player, currency


def read_status(code: object, description: object) -> Status:
    """Read an answer's `error` and `description` as a status."""
    if isinstance(description, str) and description in DESCRIPTION_STATUS:
        return DESCRIPTION_STATUS[description]
    if type(code) is str and code.isdigit():
        code = int(code)
    if type(code) is not int:
        return Status.FINAL_ERROR

    return CODE_STATUS.get(code, Status.FINAL_ERROR)


class PragmaticClient:
    """Sends Pragmatic Play's wallet callbacks to a casino's callback URL.

    `callback_url` is the base the casino gave Pragmatic, for example
    `http://127.0.0.1:8080/providers/pragmatic-direct/`; each method's path
    (`bet.html`, ...) is appended to it. `suffix` is the path's ending.
    """

    def __init__(
        self,
        callback_url: str,
        secret_key: str,
        *,
        provider_id: str = "PragmaticPlay",
        currencies: CurrencyTable | None = None,
        game: str = DEFAULT_GAME,
        bonus_code: str = "sim-frb",
        suffix: str = ".html",
        seed: int = 0,
        clock: Callable[[], int] | None = None,
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.callback_url = callback_url.rstrip("/") + "/"
        self.provider_id = provider_id
        self.currencies = currencies or CurrencyTable()
        self.game = game
        self.bonus_code = bonus_code
        self.suffix = suffix
        self._secret = secret_key
        self._random = random.Random(seed)
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._seen: dict[tuple[str, str], str] = {}

    async def __aenter__(self) -> PragmaticClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            await self._http.aclose()

    def new_reference(self) -> str:
        """Return a fresh transaction reference, as Pragmatic makes them."""
        return f"{self._random.getrandbits(96):024x}"

    def new_round(self) -> str:
        """Return a fresh round id; Pragmatic's are long integers."""
        return str(self._random.randrange(10**9, 10**10))

    async def balance(
        self, *, player: str, currency: str, session_token: str
    ) -> KitAnswer:
        """Ask for the player's balance (`balance.html`)."""
        params = self._account(player, currency, session_token)

        return await self.send("balance", params)

    async def debit(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        transaction_id: str,
        round_id: str,
        session_token: str,
        free_round: bool = False,
    ) -> KitAnswer:
        """Place a bet (`bet.html`); a free-round bet carries the bonus code."""
        params = {
            **self._in_round(player, currency, round_id, session_token),
            "amount": self._decimal(amount, currency),
            "reference": transaction_id,
            "roundDetails": "spin",
        }
        if free_round:
            params["bonusCode"] = self.bonus_code

        return await self.send("bet", params)

    async def credit(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        transaction_id: str,
        round_id: str,
        session_token: str,
        debit_transaction_id: str | None,
        round_closed: bool = True,
    ) -> KitAnswer:
        """Pay a win (`result.html`), then end the round (`endRound.html`).

        Pragmatic's result names no bet, so `debit_transaction_id` is not
        sent. The answer is the result's, unless the round end was refused.
        """
        params = {
            **self._in_round(player, currency, round_id, session_token),
            "amount": self._decimal(amount, currency),
            "reference": transaction_id,
            "roundDetails": "spin",
        }
        answer = await self.send("result", params)
        if not round_closed or answer.status is not Status.OK:
            return answer

        ended = await self.end_round(
            player=player,
            currency=currency,
            round_id=round_id,
            session_token=session_token,
        )

        return answer if ended.status is Status.OK else ended

    async def rollback(
        self,
        *,
        player: str,
        currency: str,
        transaction_id: str,
        debit_transaction_id: str,
        amount: int,
        round_id: str,
        session_token: str,
    ) -> KitAnswer:
        """Refund a bet (`refund.html`), which names the bet's reference.

        Pragmatic gives a refund no id of its own, so `transaction_id` is not
        sent; the casino derives one from the bet's reference.
        """
        params = {
            **self._in_round(player, currency, round_id, session_token),
            "reference": debit_transaction_id,
            "amount": self._decimal(amount, currency),
        }

        return await self.send("refund", params)

    async def end_round(
        self, *, player: str, currency: str, round_id: str, session_token: str
    ) -> KitAnswer:
        """End a round without moving money (`endRound.html`)."""
        params = self._in_round(player, currency, round_id, session_token)
        params.pop("timestamp")

        return await self.send("endRound", params)

    async def resend(self, answer: KitAnswer) -> KitAnswer:
        """Send exactly the same request bytes and headers once more."""
        return await self.send_raw(answer.path, answer.request)

    async def send_unsigned(self, answer: KitAnswer) -> KitAnswer:
        """Send the same form with a hash made under another key."""
        pairs = [(k, v) for k, v in _pairs(answer.request) if k != "hash"]
        wrong = pragmatic_hash(pairs, self._secret + "-not-the-key")

        return await self.send_raw(answer.path, urlencode([*pairs, ("hash", wrong)]))

    async def send_malformed(self, answer: KitAnswer) -> KitAnswer:
        """Send a correctly hashed form the protocol forbids.

        An amount becomes `1e3`, not a plain decimal; a form without one
        loses its `providerId`, which every method requires.
        """
        params = {k: v for k, v in _pairs(answer.request) if k != "hash"}
        if "amount" in params:
            params["amount"] = MALFORMED_AMOUNT
        else:
            params.pop("providerId", None)

        return await self.send_raw(answer.path, urlencode(sign(params, self._secret)))

    async def authenticate(self, token: str, *, game: str | None = None) -> KitAnswer:
        """Authenticate the token a launch handed over (`authenticate.html`)."""
        params = {
            "providerId": self.provider_id,
            "token": token,
            "gameId": game or self.game,
        }

        return await self.send("authenticate", params)

    async def bonus_win(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        reference: str,
        bonus_code: str | None = None,
        round_id: str | None = None,
    ) -> KitAnswer:
        """Pay what a player's free rounds won (`bonusWin.html`)."""
        params = {
            **self._timed(player, currency),
            "amount": self._decimal(amount, currency),
            "reference": reference,
            "bonusCode": bonus_code or self.bonus_code,
        }
        if round_id is not None:
            params |= {"roundId": round_id, "gameId": self.game}

        return await self.send("bonusWin", params)

    async def jackpot_win(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        reference: str,
        round_id: str,
        jackpot_id: str = "sim-jackpot",
    ) -> KitAnswer:
        """Pay a jackpot won in a round (`jackpotWin.html`)."""
        params = {
            **self._in_round(player, currency, round_id, ""),
            "amount": self._decimal(amount, currency),
            "reference": reference,
            "jackpotId": jackpot_id,
        }

        return await self.send("jackpotWin", params)

    async def promo_win(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        reference: str,
        campaign_id: str = "1001",
        campaign_type: str = "T",
    ) -> KitAnswer:
        """Pay a promotion's prize, a tournament's by default (`promoWin.html`)."""
        params = {
            **self._timed(player, currency),
            "amount": self._decimal(amount, currency),
            "currency": currency,
            "reference": reference,
            "campaignId": campaign_id,
            "campaignType": campaign_type,
        }

        return await self.send("promoWin", params)

    async def adjustment(
        self,
        *,
        player: str,
        currency: str,
        amount: int,
        reference: str,
        round_id: str,
    ) -> KitAnswer:
        """Adjust a balance by a signed amount in minor units (`adjustment.html`)."""
        sign_text = "-" if amount < 0 else ""
        params = {
            **self._in_round(player, currency, round_id, ""),
            "amount": sign_text + self._decimal(abs(amount), currency),
            "reference": reference,
            "validBetAmount": self._decimal(0, currency),
        }

        return await self.send("adjustment", params)

    async def send(self, method: str, params: Mapping[str, str]) -> KitAnswer:
        """Hash a method's parameters and post them as a form."""
        body = urlencode(sign(params, self._secret))

        return await self.send_raw(method + self.suffix, body)

    async def send_raw(self, path: str, body: str | bytes) -> KitAnswer:
        """Post a form body as it is to `path` below the callback URL."""
        raw = body.encode() if isinstance(body, str) else body
        response = await self._http.post(
            self.callback_url + path, content=raw, headers=FORM
        )

        return self._read(path, raw, response)

    def _read(self, path: str, raw: bytes, response: httpx.Response) -> KitAnswer:
        document = _document(response.content)
        params = dict(_pairs(raw))
        if response.status_code >= 500:
            status = Status.RETRYABLE_ERROR
        else:
            status = read_status(document.get("error"), document.get("description"))
        transaction = document.get("transactionId")
        transaction_ref = str(transaction) if transaction is not None else None

        return KitAnswer(
            http_status=response.status_code,
            status=status,
            balance=self._balance(document, params),
            path=path,
            request=raw,
            headers=dict(FORM),
            replay=self._replay(path, params, status, transaction_ref),
            transaction_ref=transaction_ref,
            body=response.content,
        )

    def _replay(
        self,
        path: str,
        params: Mapping[str, str],
        status: Status,
        transaction_ref: str | None,
    ) -> bool:
        # The protocol answers a replay exactly like the original; the client
        # knows one when a reference it sent comes back with the same id.
        reference = params.get("reference")
        if status is not Status.OK or reference is None or transaction_ref is None:
            return False
        key = (path.removesuffix(self.suffix), reference)
        if self._seen.get(key) == transaction_ref:
            return True
        self._seen[key] = transaction_ref

        return False

    def _balance(
        self, document: Mapping[str, Any], params: Mapping[str, str]
    ) -> int | None:
        cash = document.get("cash")
        currency = document.get("currency") or _currency_of(params)
        if not isinstance(cash, int | Decimal) or not isinstance(currency, str):
            return None
        try:
            return self.currencies.parse(cash, currency).minor
        except (AmountError, UnknownCurrency):
            return None

    def _account(
        self, player: str, currency: str, session_token: str
    ) -> dict[str, str]:
        params = {"providerId": self.provider_id, "userId": user_id(player, currency)}
        if session_token:
            params["token"] = launch_token(session_token, player, currency)

        return params

    def _timed(self, player: str, currency: str) -> dict[str, str]:
        return {
            "providerId": self.provider_id,
            "userId": user_id(player, currency),
            "timestamp": str(self._clock()),
        }

    def _in_round(
        self, player: str, currency: str, round_id: str, session_token: str
    ) -> dict[str, str]:
        return {
            **self._account(player, currency, session_token),
            "gameId": self.game,
            "roundId": round_id,
            "timestamp": str(self._clock()),
            "platform": "WEB",
        }

    def _decimal(self, minor: int, currency: str) -> str:
        return self.currencies.format(Money(minor, currency))


def _pairs(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode(), keep_blank_values=True)


def _currency_of(params: Mapping[str, str]) -> str | None:
    named = params.get("userId") or params.get("token")
    return named.rpartition("|")[2] if named else None


def _document(body: bytes) -> Mapping[str, Any]:
    # Decimals stay exact: a balance never passes through a binary float.
    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError:
        return {}

    return document if isinstance(document, dict) else {}
