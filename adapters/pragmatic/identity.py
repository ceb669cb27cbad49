"""How the gateway's player, currency and session travel through Pragmatic Play.

Pragmatic's callbacks name the player only by the `userId` the casino
answered on authenticate, and most carry no currency; authenticate itself
carries only the `token` the casino gave at launch. The adapter holds no
state and the contract has no session look-up, so both are self-describing:

- `userId` is `{player}|{currency}`: the gateway's player reference and the
  currency of the session, split at the last `|` (currency codes never hold
  one). Pragmatic allows 100 characters.
- `token` is `{session_token}|{userId}`: the gateway's session token first
  (split at the first `|`; the gateway's tokens never hold one), so a bet's
  token still names the session the ledger checks.

The token travels server to server in the game URL request and comes back
only in hashed callbacks, so the player it names is trusted on authenticate;
on every bet the ledger checks that the session belongs to that player.
"""

from __future__ import annotations

from contracts import BadRequest

SEPARATOR = "|"
MAX_USER_ID = 100


class UnreadableToken(BadRequest):
    """A token that does not name a gateway session, player and currency."""

    code = "unreadable_token"


def user_id(player: str, currency: str) -> str:
    """Return the `userId` Pragmatic is given for a player in one currency."""
    return f"{player}{SEPARATOR}{currency}"


def launch_token(session_token: str, player: str, currency: str) -> str:
    """Return the `token` Pragmatic is given at launch and sends back."""
    return f"{session_token}{SEPARATOR}{user_id(player, currency)}"


def launch_problem(session_token: str, player: str, currency: str) -> str | None:
    """Say why a session cannot be written into a `userId` and token, if it can't."""
    if not session_token or SEPARATOR in session_token:
        return f"the session token must be non-empty and free of {SEPARATOR!r}"
    if not player or not currency or SEPARATOR in currency:
        return "the player and the currency must be non-empty"
    if len(user_id(player, currency)) > MAX_USER_ID:
        return f"the userId would be longer than Pragmatic's {MAX_USER_ID}"

    return None


def read_user_id(value: str) -> tuple[str, str]:
    """Return the (player, currency) a `userId` names, or raise `BadRequest`."""
    player, separator, currency = value.rpartition(SEPARATOR)
    if not separator or not player or not currency:
        raise BadRequest(
            "userId must be '{player}|{currency}' as given at authenticate",
            field="userId",
        )

    return player, currency


def read_token(value: str) -> tuple[str, str, str]:
    """Return the (session token, player, currency) a launch token names."""
    session, separator, rest = value.partition(SEPARATOR)
    player, inner, currency = rest.rpartition(SEPARATOR)
    if not (separator and inner and session and player and currency):
        raise UnreadableToken("token names no gateway session", field="token")

    return session, player, currency


def session_of(value: str) -> str:
    """Return the gateway session token at the head of a token."""
    return value.partition(SEPARATOR)[0]
