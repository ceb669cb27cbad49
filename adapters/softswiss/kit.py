"""The studio's side of the softswiss protocol, as the conformance kit drives it.

`SoftswissKitClient` sends the callbacks a SoftSwiss-protocol studio sends to
a casino: `/play` with `bet` and `win` actions, `/rollback` with a `rollback`
action, each body signed with `X-REQUEST-SIGN`. It checks the signature of
every answer and reads the protocol's answer into the kit's normalized terms.

How the protocol differs, for the kit's `AdapterUnderTest`
- callbacks carry no session token; the token the kit passes is ignored.
- wins do not name their bet; a round's bets are found by its `game_id`.
- there is no end-of-round message of its own: `end_round` sends a `/play`
  without actions and with `finished: true`.
- a replay is answered as the original, with the original `tx_id`.
- free rounds are carried as bets of zero.
- code 400 covers every refusal without its own code; it reads as
  `Status.BAD_REQUEST`.

It imports `contracts` only, like the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from contracts.signing import hmac_sha256_hex, same_signature
from contracts.testing.client import KitAnswer
from contracts.wallet import Status

SIGNATURE_HEADER = "X-REQUEST-SIGN"

# The protocol's error codes, as a studio reads them.
STATUSES: Mapping[int, Status] = {
    100: Status.INSUFFICIENT_FUNDS,
    101: Status.INVALID_SESSION,
    105: Status.LIMIT_REACHED,
    107: Status.GAME_NOT_ALLOWED,
    110: Status.PLAYER_BLOCKED,
    154: Status.WRONG_CURRENCY,
    400: Status.BAD_REQUEST,
    403: Status.INVALID_SIGNATURE,
    500: Status.RETRYABLE_ERROR,
}


class SoftswissKitClient:
    """Sends signed softswiss callbacks to a gateway instance and reads the answers.

    `callback_url` is the instance's callback base, for example
    `http://127.0.0.1:8080/providers/under-test/`.
    """

    def __init__(
        self,
        callback_url: str,
        auth_token: str,
        *,
        game: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.callback_url = callback_url.rstrip("/") + "/"
        self.game = game
        self._key = auth_token.encode()
        self._http = httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def balance(
        self, *, player: str, currency: str, session_token: str
    ) -> KitAnswer:
        """Ask for the balance: a `/play` without actions."""
        return await self._send("play", self._envelope(player, currency, None))

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
        """Send a `bet` action; a free-round bet is a bet of its amount, usually 0."""
        action = {"action": "bet", "action_id": transaction_id, "amount": amount}

        return await self._play(player, currency, round_id, [action], finished=False)

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
        """Send a `win` action, which in this protocol names no bet."""
        action = {"action": "win", "action_id": transaction_id, "amount": amount}

        return await self._play(player, currency, round_id, [action], round_closed)

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
        """Send a `/rollback` naming the bet; the protocol carries no amount."""
        document = self._envelope(player, currency, round_id)
        document["finished"] = False
        document["actions"] = [
            {
                "action": "rollback",
                "action_id": transaction_id,
                "original_action_id": debit_transaction_id,
            }
        ]

        return await self._send("rollback", document)

    async def end_round(
        self, *, player: str, currency: str, round_id: str, session_token: str
    ) -> KitAnswer:
        """Close a round: a `/play` without actions and with `finished: true`."""
        return await self._play(player, currency, round_id, [], finished=True)

    async def resend(self, answer: KitAnswer) -> KitAnswer:
        """Send exactly the same bytes and headers once more."""
        return await self._post(answer.path, answer.request, answer.headers)

    async def send_unsigned(self, answer: KitAnswer) -> KitAnswer:
        """Send the same bytes signed with another key."""
        forged = hmac_sha256_hex(self._key + b"-not-the-key", answer.request)

        return await self._post(answer.path, answer.request, self._headers(forged))

    async def send_malformed(self, answer: KitAnswer) -> KitAnswer:
        """Send the same callback, signed, with its amounts as decimal strings.

        A callback without amounts gets a `finished` flag that is not a boolean.
        """
        document = orjson.loads(answer.request)
        actions = [a for a in document.get("actions") or () if "amount" in a]
        for action in actions:
            action["amount"] = str(action["amount"])
        if not actions:
            document["finished"] = "yes"
        body = orjson.dumps(document)

        return await self._post(answer.path, body, self._headers(self._sign(body)))

    async def _play(
        self,
        player: str,
        currency: str,
        round_id: str,
        actions: list[dict[str, Any]],
        finished: bool,
    ) -> KitAnswer:
        document = self._envelope(player, currency, round_id)
        document["finished"] = finished
        document["actions"] = actions

        return await self._send("play", document)

    def _envelope(
        self, player: str, currency: str, round_id: str | None
    ) -> dict[str, Any]:
        document: dict[str, Any] = {"user_id": player, "currency": currency}
        if self.game is not None:
            document["game"] = self.game
        if round_id is not None:
            document["game_id"] = round_id

        return document

    async def _send(self, path: str, document: Mapping[str, Any]) -> KitAnswer:
        body = orjson.dumps(document)

        return await self._post(path, body, self._headers(self._sign(body)))

    async def _post(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> KitAnswer:
        response = await self._http.post(
            self.callback_url + path, content=body, headers=dict(headers)
        )
        signature = response.headers.get(SIGNATURE_HEADER)
        if not same_signature(self._sign(response.content), signature):
            raise AssertionError(
                f"the answer to /{path} (HTTP {response.status_code}) is not signed"
                f" with {SIGNATURE_HEADER}: {response.content[:200]!r}"
            )

        return _read(path, body, headers, response)

    def _headers(self, signature: str) -> dict[str, str]:
        return {"Content-Type": "application/json", SIGNATURE_HEADER: signature}

    def _sign(self, body: bytes) -> str:
        return hmac_sha256_hex(self._key, body)


def provider_client(
    callback_url: str, settings: Mapping[str, Any]
) -> SoftswissKitClient:
    """Build the kit's client from an instance's settings, keyed by `auth_token`."""
    token = settings["auth_token"]
    if isinstance(token, SecretStr):
        token = token.get_secret_value()

    return SoftswissKitClient(callback_url, str(token))


def _read(
    path: str, body: bytes, headers: Mapping[str, str], response: httpx.Response
) -> KitAnswer:
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError as error:
        raise AssertionError(f"the answer to /{path} is not JSON") from error
    if not isinstance(document, dict):
        raise AssertionError(f"the answer to /{path} is not a JSON object")

    balance = document.get("balance")
    if response.status_code == 200:
        status = Status.OK
    else:
        code = document.get("code")
        status = (
            STATUSES.get(code, Status.FINAL_ERROR)
            if type(code) is int
            else (Status.FINAL_ERROR)
        )

    return KitAnswer(
        http_status=response.status_code,
        status=status,
        balance=balance if type(balance) is int else None,
        path=path,
        request=body,
        headers=dict(headers),
        transaction_ref=_transaction_ref(body, document),
        body=response.content,
    )


def _transaction_ref(body: bytes, document: Mapping[str, Any]) -> str | None:
    # The answer's `tx_id` for the request's last action, if it carries one.
    actions = orjson.loads(body).get("actions") or ()
    if not actions:
        return None
    action_id = actions[-1].get("action_id")
    for entry in document.get("transactions") or ():
        if isinstance(entry, dict) and entry.get("action_id") == action_id:
            tx_id = entry.get("tx_id")
            return tx_id if isinstance(tx_id, str) else None

    return None
