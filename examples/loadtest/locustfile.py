"""Realistic player sessions against a running gateway, for locust.

Each simulated player launches a game through the operator API, then plays
rounds the way a SoftSwiss-protocol studio reports them: a signed bet, then
a win (0 for a loss) that finishes the round. Now and then the studio sends
a bet again with the very same bytes (a retransmission, which the gateway
must answer as a replay), and now and then it rolls a bet back instead of
settling it. The load can come from many machines: see README.md here.

Settings come from the environment:

- `GAMEGATE_API_KEY`: an operator API key from the gateway's config.
- `STUDIO_AUTH_TOKEN`: the provider instance's `auth_token`.
- `GAMEGATE_PROVIDER`: the provider instance (default `studio-direct`).
- `GAMEGATE_OPERATOR`: the operator's name in the config (default
  `casino-a`), the first half of the players' `user_id`.
- `GAMEGATE_GAME`: the game to launch (default `example-studio:fruit-reels`).
- `GAMEGATE_CURRENCY`: the currency (default `EUR`).
- `GAMEGATE_FUND`: an amount to credit each new player through
  `POST /v1/wallet/transfers` (built-in wallet only; default `100.00`, empty
  to skip when the casino's own wallet holds the balances).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import uuid

from locust import HttpUser, between, task

API_KEY = os.environ.get("GAMEGATE_API_KEY", "")
AUTH_TOKEN = os.environ.get("STUDIO_AUTH_TOKEN", "").encode()
PROVIDER = os.environ.get("GAMEGATE_PROVIDER", "studio-direct")
GAME = os.environ.get("GAMEGATE_GAME", "example-studio:fruit-reels")
CURRENCY = os.environ.get("GAMEGATE_CURRENCY", "EUR")
FUNDING = os.environ.get("GAMEGATE_FUND", "100.00")
OPERATOR = os.environ.get("GAMEGATE_OPERATOR", "casino-a")

RETRANSMIT_SHARE = 0.05
ROLLBACK_SHARE = 0.02
WIN_SHARE = 0.4
BETS = (10, 20, 50, 100)


def sign(body: bytes) -> str:
    """Return the `X-REQUEST-SIGN` of a body: hex HMAC-SHA256 under the token."""
    return hmac.new(AUTH_TOKEN, body, hashlib.sha256).hexdigest()


class Player(HttpUser):
    """One player: a launch, then rounds of signed bets and wins."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        """Launch a session for a new player and fund them where balances live here."""
        self.player = f"load-{uuid.uuid4().hex[:16]}"
        self.user_id = f"{OPERATOR}:{self.player}"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        if FUNDING:
            self.client.post(
                "/v1/wallet/transfers",
                json={
                    "player": self.player,
                    "currency": CURRENCY,
                    "amount": FUNDING,
                    "direction": "credit",
                    "reference": f"load-funding-{self.player}",
                },
                headers=headers,
                name="/v1/wallet/transfers",
            )
        self.client.post(
            "/v1/sessions",
            json={"player": self.player, "game": GAME, "currency": CURRENCY},
            headers=headers,
            name="/v1/sessions",
        )

    @task
    def round(self) -> None:
        """Play one round: bet, maybe resend it, then settle or roll it back."""
        round_id = f"r-{uuid.uuid4().hex}"
        bet_id = f"a-{uuid.uuid4().hex}"
        amount = random.choice(BETS)
        bet = self._body(round_id, [_action("bet", bet_id, amount)], finished=False)
        answer = self._send("play", bet, "bet")
        if random.random() < RETRANSMIT_SHARE:
            self._send("play", bet, "bet (retransmitted)")

        if answer is None or random.random() < ROLLBACK_SHARE:
            rollback = {
                "action": "rollback",
                "action_id": f"a-{uuid.uuid4().hex}",
                "original_action_id": bet_id,
            }
            self._send("rollback", self._body(round_id, [rollback], True), "rollback")
            return
        win = amount * random.choice((2, 3, 5)) if random.random() < WIN_SHARE else 0
        action = _action("win", f"a-{uuid.uuid4().hex}", win)
        self._send("play", self._body(round_id, [action], finished=True), "win")

    def _body(self, round_id: str, actions: list[dict], finished: bool) -> bytes:
        document = {
            "user_id": self.user_id,
            "currency": CURRENCY,
            "game": GAME,
            "game_id": round_id,
            "finished": finished,
            "actions": actions,
        }
        return json.dumps(document, separators=(",", ":")).encode()

    def _send(self, path: str, body: bytes, name: str) -> dict | None:
        headers = {"X-REQUEST-SIGN": sign(body), "Content-Type": "application/json"}
        with self.client.post(
            f"/providers/{PROVIDER}/{path}",
            data=body,
            headers=headers,
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                response.success()
                return response.json()
            # A refused bet (not enough funds, code 100) is an answer, not a
            # failure of the gateway; the round is then rolled back.
            if response.status_code == 412:
                response.success()
                return None
            response.failure(f"HTTP {response.status_code}: {response.text[:120]}")
            return None


def _action(kind: str, action_id: str, amount: int) -> dict:
    return {"action": kind, "action_id": action_id, "amount": amount}
