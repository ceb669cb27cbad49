"""The `slotegrator` adapter: signatures, credentials, native payloads, launches."""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pluggy
import pytest
import respx
from pydantic import SecretStr, ValidationError

import adapters.slotegrator
from adapters.slotegrator import SlotegratorAdapter, SlotegratorConfig
from adapters.slotegrator.adapter import ERROR_CODES
from adapters.slotegrator.signing import (
    canonical_query,
    form_encode,
    parse_form,
    sign,
    signed_pairs,
)
from contracts import (
    AdapterContext,
    AmountError,
    BadRequest,
    BodyTooLarge,
    Callback,
    CreditKind,
    CurrencyTable,
    Device,
    GameAdapter,
    GameDescriptor,
    GamegateError,
    InvalidSignature,
    LaunchRequest,
    Mode,
    Operation,
    OperationOutcome,
    ProviderError,
    Status,
    UnknownCurrency,
    UnknownOperation,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)
from contracts.hookspecs import PROJECT, AdapterSpecs
from gateway.plugins import load_adapters

KEY = "placeholder-merchant-key"
MERCHANT = "merchant-0001"
BASE_URL = "https://gis.example.test/api/index.php/v1"
VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
PLAYER = "casino-a:player-1"
GAME = "8c6a0f6b1e2d4c5a9b7e3f1d2c4b6a8e9f0a1b2c"
PROCESSED = datetime(2024, 5, 6, 12, 45, 32, tzinfo=UTC)

# The documented algorithm, built again here without the adapter's code:
# PHP's urlencode byte by byte, http_build_query over nested values, ksort.
_UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
)


def php_urlencode(text: str) -> str:
    """Encode text as PHP's urlencode does."""
    return "".join(
        chr(byte) if byte in _UNRESERVED else "+" if byte == 0x20 else f"%{byte:02X}"
        for byte in text.encode("utf-8")
    )


def php_build_query(params: Mapping[str, Any], prefix: str | None = None) -> str:
    """Render nested parameters as PHP's http_build_query does."""
    parts = []
    for key, value in params.items():
        name = key if prefix is None else f"{prefix}[{key}]"
        if value is None:
            continue
        if isinstance(value, list):
            value = {str(index): item for index, item in enumerate(value)}
        if isinstance(value, dict):
            parts.append(php_build_query(value, name))
        else:
            parts.append(f"{php_urlencode(name)}={php_urlencode(value)}")
    return "&".join(part for part in parts if part)


def reference_canonical(params: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """Return the documented string to sign: merged, ksorted, http_build_query."""
    merged = {**params, **headers}
    ordered = {key: merged[key] for key in sorted(merged, key=str.encode)}
    return php_build_query(ordered)


def reference_sign(
    params: Mapping[str, Any], headers: Mapping[str, str], key: str = KEY
) -> str:
    """Return the documented X-Sign of parameters and headers."""
    message = reference_canonical(params, headers).encode()
    return hmac.new(key.encode(), message, hashlib.sha1).hexdigest()


def vector() -> dict[str, Any] | None:
    """Return the shared slotegrator signature vector, if the file is there."""
    path = VECTORS / "game-signatures.json"
    if not path.is_file():
        return None
    vectors: list[dict[str, Any]] = json.loads(path.read_text())["vectors"]
    return next(v for v in vectors if v["id"] == "slotegrator-hmac-sha1-1")


def make_adapter(
    http: httpx.AsyncClient,
    *,
    key: str = KEY,
    merchant: str = MERCHANT,
    window: int = 30,
) -> SlotegratorAdapter:
    """Build an adapter for the `slotegrator-direct` instance with a test config."""
    config = SlotegratorConfig(
        base_url=BASE_URL + "/",
        merchant_id=merchant,
        merchant_key=SecretStr(key),
        timestamp_window_seconds=window,
    )
    context = AdapterContext(
        instance="slotegrator-direct",
        currencies=CurrencyTable({"USDT": 6}),
        http=http,
    )
    return SlotegratorAdapter(config, context)


def headers_for(
    timestamp: float | str | None = None,
    *,
    merchant: str = MERCHANT,
    nonce: str = "n0nce-1",
) -> dict[str, str]:
    """Return the three signed headers, stamped now unless told otherwise."""
    stamp = str(int(time.time())) if timestamp is None else str(timestamp)
    if isinstance(timestamp, float):
        stamp = str(int(timestamp))
    return {"X-Merchant-Id": merchant, "X-Timestamp": stamp, "X-Nonce": nonce}


def callback(
    params: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    signature: str | None = None,
    key: str = KEY,
    method: str = "POST",
) -> Callback:
    """Build a callback as the aggregator sends it, signed the documented way."""
    sent = dict(headers or headers_for())
    body = php_build_query(params).encode()
    sent["X-Sign"] = (
        reference_sign(params, sent, key) if signature is None else signature
    )
    return Callback(path="callback", method=method, headers=sent, query={}, body=body)


def raw_callback(body: bytes, headers: Mapping[str, str] | None = None) -> Callback:
    """Build a callback over raw bytes, signed with the adapter's own canonical form."""
    sent = dict(headers or headers_for())
    sent["X-Sign"] = sign(KEY.encode(), parse_form(body), sent)
    return Callback(path="callback", method="POST", headers=sent, query={}, body=body)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client like the one the gateway hands to adapters."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> SlotegratorAdapter:
    """A slotegrator adapter keyed with the test merchant key."""
    return make_adapter(http)


ENVELOPE = {
    "player_id": PLAYER,
    "currency": "EUR",
    "game_uuid": GAME,
    "session_id": "gg-session-1",
}


def bet(**changes: Any) -> dict[str, Any]:
    """Return a bet callback's parameters with the given changes."""
    params = {
        "action": "bet",
        **ENVELOPE,
        "amount": "1.50",
        "transaction_id": "t-1",
        "type": "bet",
        "round_id": "r-1",
    }
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


def rollback(listed: list[dict[str, str]], **changes: Any) -> dict[str, Any]:
    """Return a rollback callback's parameters listing the given transactions."""
    params = {
        "action": "rollback",
        **ENVELOPE,
        "transaction_id": "rb-1",
        "round_id": "r-1",
        "rollback_transactions": listed,
    }
    params.update(changes)
    return params


BET_ITEM = {"action": "bet", "amount": "1.50", "transaction_id": "t-1", "type": "bet"}
WIN_ITEM = {"action": "win", "amount": "3.00", "transaction_id": "t-2", "type": "win"}


class TestSignatureVector:
    def test_vector_canonical_string_and_sign(self) -> None:
        """The shared vector's canonical string and X-Sign come out exactly."""
        found = vector()
        if found is None:
            pytest.skip(f"{VECTORS} has no game-signatures.json")
        pairs = [(k.encode(), v.encode()) for k, v in found["params"].items()]

        canonical = canonical_query(signed_pairs(pairs, found["headers"]))

        assert canonical.decode() == found["canonical"]
        assert sign(found["key"].encode(), pairs, found["headers"]) == found["expected"]
        assert (
            reference_sign(found["params"], found["headers"], found["key"])
            == (found["expected"])
        )

    def test_vector_reads_as_a_bet(
        self, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The vector's request, at its own time, verifies and reads as a debit."""
        found = vector()
        if found is None:
            pytest.skip(f"{VECTORS} has no game-signatures.json")
        monkeypatch.setattr(time, "time", lambda: 1_700_000_005.0)
        adapter = make_adapter(
            http, key=found["key"], merchant=found["headers"]["X-Merchant-Id"]
        )
        body = php_build_query(found["params"]).encode()
        headers = {**found["headers"], "X-Sign": found["expected"]}

        request = adapter.parse_callback(
            Callback(
                path="callback", method="POST", headers=headers, query={}, body=body
            )
        )

        assert request == WalletRequest(
            player="42",
            currency="EUR",
            operations=(
                WalletOperation(
                    operation=Operation.DEBIT, transaction_id="t1", amount=150
                ),
            ),
            session_token="s1",
            game="abc",
            raw=body,
        )


NESTED_IN_SENT_ORDER = [
    {"transaction_id": f"t-{n}", "action": "bet", "amount": "1.00"} for n in range(12)
]


class TestSigning:
    @pytest.mark.parametrize(
        "extra",
        [
            {"player_name": "John Smith"},
            {"note": "a+b=c&d"},
            {"note": "tilde~here"},
            {"note": "Zürich €, 東京"},
            {"note": ""},
            {"amount": "0", "note": "0.00"},
            {"return_url": "https://casino.example.test/lobby?a=1&b=2#top"},
            {"note": "*'()!;:@$,/?%"},
            {"Zeta": "upper", "alpha": "lower", "X-Extra": "dash"},
            {"rollback_transactions": [BET_ITEM, WIN_ITEM]},
            {"rollback_transactions": NESTED_IN_SENT_ORDER},
        ],
        ids=[
            "space",
            "plus-and-separators",
            "tilde",
            "non-ascii",
            "empty-value",
            "zero-values",
            "url",
            "punctuation",
            "key-case",
            "nested-list",
            "nested-sent-order",
        ],
    )
    def test_matches_the_documented_construction(
        self, adapter: SlotegratorAdapter, extra: dict[str, Any]
    ) -> None:
        """The adapter's X-Sign equals one built independently from the docs."""
        params = {"action": "balance", **ENVELOPE, **extra}
        headers = headers_for()
        body = php_build_query(params).encode()

        canonical = canonical_query(signed_pairs(parse_form(body), headers))

        assert canonical.decode() == reference_canonical(params, headers)
        assert (
            adapter.parse_callback(callback(params, headers=headers)).player == PLAYER
        )

    @pytest.mark.parametrize(
        ("raw", "encoded"),
        [
            (b" ", "+"),
            (b"+", "%2B"),
            (b"~", "%7E"),
            (b"*", "%2A"),
            (b"-_.", "-_."),
            ("é".encode(), "%C3%A9"),
            (b"", ""),
            (b"[0]", "%5B0%5D"),
        ],
        ids=[
            "space",
            "plus",
            "tilde",
            "star",
            "unreserved",
            "utf8",
            "empty",
            "brackets",
        ],
    )
    def test_form_encoding_is_rfc_1738(self, raw: bytes, encoded: str) -> None:
        """Values are encoded as PHP's urlencode does, `~` and `*` included."""
        assert form_encode(raw) == encoded

    def test_repeated_key_does_not_verify(self, adapter: SlotegratorAdapter) -> None:
        """A body repeating a key never matches a signer that kept only the last."""
        params = {"action": "balance", **ENVELOPE}
        headers = headers_for()
        body = php_build_query(params).encode() + b"&currency=USD"
        headers["X-Sign"] = reference_sign({**params, "currency": "USD"}, headers)
        arrived = Callback(
            path="callback", method="POST", headers=headers, query={}, body=body
        )

        with pytest.raises(InvalidSignature):
            adapter.parse_callback(arrived)

    def test_signature_is_over_parameters_not_bytes(
        self, adapter: SlotegratorAdapter
    ) -> None:
        """The same parameters percent-encoded another way still verify."""
        params = {"action": "balance", **ENVELOPE}
        arrived = callback(params)
        respelled = arrived.body.replace(b"casino-a%3Aplayer-1", b"casino-a:player-1")
        assert respelled != arrived.body

        request = adapter.parse_callback(
            Callback(
                path="callback",
                method="POST",
                headers=arrived.headers,
                query={},
                body=respelled,
            )
        )

        assert request.player == PLAYER


class TestCredentials:
    @pytest.mark.parametrize(
        ("signature", "key"),
        [("", KEY), ("0" * 40, KEY), (None, "another-key"), ("not-hex", KEY)],
        ids=["missing", "zeros", "other-key", "garbage"],
    )
    def test_bad_signature(
        self, adapter: SlotegratorAdapter, signature: str | None, key: str
    ) -> None:
        """A missing or wrong X-Sign is refused before the body is read."""
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(
                callback(bet(amount="-5"), signature=signature, key=key)
            )

    def test_tampered_body(self, adapter: SlotegratorAdapter) -> None:
        """Changing one value after signing breaks the signature."""
        arrived = callback(bet())
        tampered = arrived.body.replace(b"amount=1.50", b"amount=0.01")

        with pytest.raises(InvalidSignature):
            adapter.parse_callback(
                Callback(
                    path="callback",
                    method="POST",
                    headers=arrived.headers,
                    query={},
                    body=tampered,
                )
            )

    @pytest.mark.parametrize(
        "offset",
        [-35, 35, -3600, 86_400],
        ids=["too-old", "too-new", "an-hour-old", "a-day-ahead"],
    )
    def test_timestamp_outside_the_window(
        self, adapter: SlotegratorAdapter, offset: int
    ) -> None:
        """A correctly signed callback stamped outside the window is refused."""
        headers = headers_for(time.time() + offset)

        with pytest.raises(InvalidSignature, match="window"):
            adapter.parse_callback(callback(bet(), headers=headers))

    @pytest.mark.parametrize("offset", [-25, 0, 25], ids=["old", "now", "ahead"])
    def test_timestamp_inside_the_window(
        self, adapter: SlotegratorAdapter, offset: int
    ) -> None:
        """A callback stamped within the window either way is read."""
        headers = headers_for(time.time() + offset)

        assert adapter.parse_callback(callback(bet(), headers=headers)).player == PLAYER

    @pytest.mark.parametrize(
        "stamp",
        ["", "soon", "1.7e9", "-5", "1700000000.5", " 1700000000", "9" * 20],
        ids=["empty", "word", "float", "negative", "fraction", "space", "huge"],
    )
    def test_timestamp_not_a_number(
        self, adapter: SlotegratorAdapter, stamp: str
    ) -> None:
        """An X-Timestamp that is not whole Unix seconds is refused, signed or not."""
        with pytest.raises(InvalidSignature):
            adapter.parse_callback(callback(bet(), headers=headers_for(stamp)))

    def test_configured_window(self, http: httpx.AsyncClient) -> None:
        """The window comes from `timestamp_window_seconds`."""
        adapter = make_adapter(http, window=300)
        headers = headers_for(time.time() - 200)

        assert adapter.parse_callback(callback(bet(), headers=headers)).player == PLAYER

    def test_merchant_id_mismatch(self, adapter: SlotegratorAdapter) -> None:
        """A callback signed with the right key for another merchant id is refused."""
        headers = headers_for(merchant="merchant-other")

        with pytest.raises(InvalidSignature, match="merchant"):
            adapter.parse_callback(callback(bet(), headers=headers))

    def test_missing_nonce(self, adapter: SlotegratorAdapter) -> None:
        """A callback without an X-Nonce is refused even when its sign matches."""
        with pytest.raises(InvalidSignature, match="Nonce"):
            adapter.parse_callback(callback(bet(), headers=headers_for(nonce="")))

    def test_header_case_does_not_matter(self, adapter: SlotegratorAdapter) -> None:
        """Lower-case header names verify like the documented spelling."""
        arrived = callback(bet())
        lowered = {name.lower(): value for name, value in arrived.headers.items()}

        request = adapter.parse_callback(
            Callback(
                path="callback",
                method="POST",
                headers=lowered,
                query={},
                body=arrived.body,
            )
        )

        assert request.player == PLAYER

    def test_get_is_refused(self, adapter: SlotegratorAdapter) -> None:
        """A callback must be a POST even when its signature is right."""
        with pytest.raises(BadRequest):
            adapter.parse_callback(callback(bet(), method="GET"))


def debit(transaction_id: str, amount: int, **references: str) -> WalletOperation:
    """Return the debit a bet reads into."""
    return WalletOperation(
        operation=Operation.DEBIT,
        transaction_id=transaction_id,
        amount=amount,
        references=references,
    )


def credit(
    transaction_id: str, amount: int, kind: CreditKind, **references: str
) -> WalletOperation:
    """Return the credit a win reads into."""
    return WalletOperation(
        operation=Operation.CREDIT,
        transaction_id=transaction_id,
        amount=amount,
        credit_kind=kind,
        references=references,
    )


def undo(transaction_id: str, original: str, amount: int) -> WalletOperation:
    """Return the rollback a refund or a rollback entry reads into."""
    return WalletOperation(
        operation=Operation.ROLLBACK,
        transaction_id=transaction_id,
        amount=amount,
        reference_transaction_id=original,
    )


class TestParse:
    @pytest.mark.parametrize(
        ("params", "operations", "round_id", "closed"),
        [
            ({"action": "balance", **ENVELOPE}, (), None, False),
            (bet(), (debit("t-1", 150),), "r-1", False),
            (bet(finished="1"), (debit("t-1", 150),), "r-1", True),
            (bet(type=None), (debit("t-1", 150),), "r-1", False),
            (bet(type="tip", amount="0.50"), (debit("t-1", 50),), "r-1", False),
            (
                bet(type="freespin", amount="0.00", freespin_id="fs-9"),
                (debit("t-1", 0, freespin_id="fs-9"),),
                "r-1",
                False,
            ),
            (
                bet(action="win", amount="3.00", type="win", finished="1"),
                (credit("t-1", 300, CreditKind.WIN),),
                "r-1",
                True,
            ),
            (
                bet(action="win", amount="0", type=None, finished="0"),
                (credit("t-1", 0, CreditKind.WIN),),
                "r-1",
                False,
            ),
            (
                bet(action="win", amount="250.00", type="jackpot", round_id=None),
                (credit("t-1", 25_000, CreditKind.JACKPOT),),
                None,
                False,
            ),
            (
                bet(action="win", type="freespin", freespin_id="fs-9"),
                (credit("t-1", 150, CreditKind.WIN, freespin_id="fs-9"),),
                "r-1",
                False,
            ),
            (
                bet(action="refund", transaction_id="rf-1", bet_transaction_id="t-1"),
                (undo("rf-1", "t-1", 150),),
                "r-1",
                False,
            ),
            (
                rollback([BET_ITEM, WIN_ITEM]),
                (undo("rb-1:t-1", "t-1", 150), undo("rb-1:t-2", "t-2", 300)),
                "r-1",
                False,
            ),
            (
                rollback([{"action": "bet", "transaction_id": "t-1"}]),
                (undo("rb-1:t-1", "t-1", 0),),
                "r-1",
                False,
            ),
        ],
        ids=[
            "balance",
            "bet",
            "bet-finished",
            "bet-without-type",
            "tip",
            "freespin-bet",
            "win-finished",
            "zero-win-open",
            "jackpot-without-round",
            "freespin-win",
            "refund",
            "rollback-of-bet-and-win",
            "rollback-without-amount",
        ],
    )
    def test_native_payload(
        self,
        adapter: SlotegratorAdapter,
        params: dict[str, Any],
        operations: tuple[WalletOperation, ...],
        round_id: str | None,
        closed: bool,
    ) -> None:
        """Each action reads into the wallet request it asks for."""
        arrived = callback(params)

        request = adapter.parse_callback(arrived)

        assert request == WalletRequest(
            player=PLAYER,
            currency="EUR",
            operations=operations,
            session_token="gg-session-1",
            game=GAME,
            round_id=round_id,
            round_closed=closed,
            raw=arrived.body,
        )

    @pytest.mark.parametrize(
        ("currency", "amount", "minor"),
        [("JPY", "100", 100), ("USDT", "0.000001", 1), ("EUR", "12.5", 1250)],
    )
    def test_amount_is_exact(
        self, adapter: SlotegratorAdapter, currency: str, amount: str, minor: int
    ) -> None:
        """Amounts read exactly at each currency's exponent, configured ones too."""
        request = adapter.parse_callback(
            callback(bet(currency=currency, amount=amount))
        )

        assert request.operations[0].amount == minor

    def test_rollback_ids_do_not_depend_on_order(
        self, adapter: SlotegratorAdapter
    ) -> None:
        """A rollback resent with its list reordered derives the same ledger ids."""
        first = adapter.parse_callback(callback(rollback([BET_ITEM, WIN_ITEM])))
        again = adapter.parse_callback(callback(rollback([WIN_ITEM, BET_ITEM])))

        assert sorted(first.operations, key=str) == sorted(again.operations, key=str)

    def test_unknown_fields_are_ignored(self, adapter: SlotegratorAdapter) -> None:
        """Fields the protocol adds (retry counts, provider rounds) do not matter."""
        params = bet(casino_request_retry_count="2", provider_round_id="p-1")

        assert adapter.parse_callback(callback(params)).operations[0].amount == 150


class TestRefuse:
    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({**ENVELOPE}, BadRequest),
            ({"action": "steal", **ENVELOPE}, UnknownOperation),
            (bet(player_id=None), BadRequest),
            (bet(player_id=""), BadRequest),
            (bet(currency=None), BadRequest),
            (bet(currency="XXQ"), UnknownCurrency),
            (bet(currency="eur"), UnknownCurrency),
            (bet(amount="1,50"), AmountError),
            (bet(amount="-1.00"), AmountError),
            (bet(amount="1.005"), AmountError),
            (bet(amount=""), AmountError),
            (bet(amount=None), AmountError),
            (bet(amount="1e2"), AmountError),
            (bet(amount=" 1.50"), AmountError),
            (bet(transaction_id=None), BadRequest),
            (bet(transaction_id="x" * 129), BadRequest),
            (bet(session_id=None), BadRequest),
            (bet(type="steal"), UnknownOperation),
            (bet(action="win", type="refund"), UnknownOperation),
            (bet(finished="yes"), BadRequest),
            (bet(action="refund", transaction_id="rf-1"), BadRequest),
            (rollback([]), BadRequest),
            (
                rollback([{**BET_ITEM, "action": "refund"}]),
                UnknownOperation,
            ),
            (rollback([{"action": "bet", "amount": "1.50"}]), BadRequest),
            (rollback([{**BET_ITEM, "amount": "1,50"}]), AmountError),
            (rollback([BET_ITEM], transaction_id=None), BadRequest),
        ],
        ids=[
            "no-action",
            "unknown-action",
            "no-player",
            "empty-player",
            "no-currency",
            "unknown-currency",
            "lower-case-currency",
            "comma-amount",
            "negative-amount",
            "finer-than-currency",
            "empty-amount",
            "missing-amount",
            "exponent-amount",
            "padded-amount",
            "no-transaction-id",
            "long-transaction-id",
            "bet-without-session",
            "unknown-bet-type",
            "unknown-win-type",
            "finished-not-a-flag",
            "refund-without-bet",
            "rollback-empty-list",
            "rollback-of-a-refund",
            "rollback-entry-without-id",
            "rollback-entry-bad-amount",
            "rollback-without-id",
        ],
    )
    def test_bad_request(
        self,
        adapter: SlotegratorAdapter,
        params: dict[str, Any],
        error: type[BadRequest],
    ) -> None:
        """A signed callback the protocol does not allow raises the matching error."""
        with pytest.raises(error):
            adapter.parse_callback(callback(params))

    @pytest.mark.parametrize(
        "body",
        [
            b"action=balance&player_id=p&currency=EUR&currency=EUR",
            b"action=balance&player_id=%FF&currency=EUR",
            b"action=rollback&player_id=p&currency=EUR&transaction_id=r"
            b"&rollback_transactions%5B1%5D%5Baction%5D=bet",
            b"action=rollback&player_id=p&currency=EUR&transaction_id=r"
            b"&rollback_transactions=%5B%5D",
        ],
        ids=["repeated-field", "not-utf8", "list-not-from-zero", "list-as-text"],
    )
    def test_bad_form(self, adapter: SlotegratorAdapter, body: bytes) -> None:
        """A signed body whose form the protocol does not allow is a bad request."""
        with pytest.raises(BadRequest):
            adapter.parse_callback(raw_callback(body))


def outcome(
    status: Status = Status.OK, balance: int | None = 1_250, *ids: str
) -> WalletOutcome:
    """Return a ledger outcome with one applied operation per gateway id."""
    return WalletOutcome(
        status=status,
        currency="EUR",
        balance=balance,
        operations=tuple(
            OperationOutcome(
                transaction_id=f"t-{index}",
                gateway_transaction_id=gateway_id,
                processed_at=PROCESSED,
            )
            for index, gateway_id in enumerate(ids)
        ),
    )


class TestRender:
    def test_balance(self, adapter: SlotegratorAdapter) -> None:
        """A balance answer is one exact JSON number with the currency's decimals."""
        arrived = callback({"action": "balance", **ENVELOPE})
        request = adapter.parse_callback(arrived)

        answer = adapter.render_outcome(arrived, request, outcome())

        assert (answer.status, answer.body) == (200, b'{"balance":12.50}')
        assert answer.content_type == "application/json"

    def test_bet(self, adapter: SlotegratorAdapter) -> None:
        """A bet answer carries the balance and the gateway's transaction id."""
        arrived = callback(bet())
        request = adapter.parse_callback(arrived)

        answer = adapter.render_outcome(arrived, request, outcome(Status.OK, 0, "41"))

        assert answer.body == b'{"balance":0.00,"transaction_id":"41"}'

    def test_rollback(self, adapter: SlotegratorAdapter) -> None:
        """A rollback answer lists the aggregator ids it rolled back."""
        arrived = callback(rollback([BET_ITEM, WIN_ITEM]))
        request = adapter.parse_callback(arrived)

        answer = adapter.render_outcome(
            arrived, request, outcome(Status.OK, 1_000, "7", "8")
        )

        assert orjson.loads(answer.body) == {
            "balance": 10.0,
            "transaction_id": "7",
            "rollback_transactions": ["t-1", "t-2"],
        }
        assert answer.body.startswith(b'{"balance":10.00,')

    @pytest.mark.parametrize(
        ("currency", "minor", "text"),
        [("JPY", 1_250, b"1250"), ("USDT", 1, b"0.000001"), ("BHD", 5, b"0.005")],
    )
    def test_balance_decimals(
        self, adapter: SlotegratorAdapter, currency: str, minor: int, text: bytes
    ) -> None:
        """Balances are written with exactly the currency's number of decimals."""
        arrived = callback({"action": "balance", **ENVELOPE, "currency": currency})
        request = adapter.parse_callback(arrived)

        answer = adapter.render_outcome(arrived, request, outcome(Status.OK, minor))

        assert answer.body == b'{"balance":' + text + b"}"

    @pytest.mark.parametrize(
        ("status", "code", "description"),
        [
            (Status.INSUFFICIENT_FUNDS, "INSUFFICIENT_FUNDS", "Not enough money"),
            (Status.UNKNOWN_PLAYER, "INTERNAL_ERROR", "Unknown player"),
            (Status.INVALID_SESSION, "INTERNAL_ERROR", "Invalid session"),
            (Status.SESSION_EXPIRED, "INTERNAL_ERROR", "Session expired"),
            (Status.PLAYER_BLOCKED, "INTERNAL_ERROR", "Player is blocked"),
            (Status.LIMIT_REACHED, "INTERNAL_ERROR", "Player reached a limit"),
            (Status.GAME_NOT_ALLOWED, "INTERNAL_ERROR", "Game is not allowed"),
            (Status.WRONG_CURRENCY, "INTERNAL_ERROR", "Currency is not allowed"),
            (Status.TRANSACTION_NOT_FOUND, "INTERNAL_ERROR", "Transaction not found"),
            (Status.TRANSACTION_MISMATCH, "INTERNAL_ERROR", "Transaction id reused"),
            (Status.ALREADY_SETTLED, "INTERNAL_ERROR", "Round is already settled"),
            (Status.ALREADY_ROLLED_BACK, "INTERNAL_ERROR", "already rolled back"),
            (Status.ROUND_CLOSED, "INTERNAL_ERROR", "Round is already finished"),
            (Status.INVALID_SIGNATURE, "INTERNAL_ERROR", "Invalid signature"),
            (Status.BAD_REQUEST, "INTERNAL_ERROR", "Bad request"),
            (Status.RETRYABLE_ERROR, "INTERNAL_ERROR", "Temporary error"),
            (Status.FINAL_ERROR, "INTERNAL_ERROR", "Internal error"),
        ],
    )
    def test_status_table(
        self,
        adapter: SlotegratorAdapter,
        status: Status,
        code: str,
        description: str,
    ) -> None:
        """Each refusal renders the protocol's code, with HTTP 200 and no balance."""
        arrived = callback(bet())
        request = adapter.parse_callback(arrived)

        answer = adapter.render_outcome(arrived, request, outcome(status, 50))

        document = orjson.loads(answer.body)
        assert answer.status == 200
        assert set(document) == {"error_code", "error_description"}
        assert document["error_code"] == code
        assert description in document["error_description"]

    def test_status_table_is_complete_and_unambiguous(self) -> None:
        """Every status but OK has a code, and no two share a description."""
        assert set(ERROR_CODES) == set(Status) - {Status.OK}
        assert len(set(ERROR_CODES.values())) == len(ERROR_CODES)

    @pytest.mark.parametrize(
        "result",
        [outcome(Status.OK, None, "1"), outcome(Status.OK, 100)],
        ids=["no-balance", "no-operation-outcome"],
    )
    def test_incomplete_ok_is_an_internal_error(
        self, adapter: SlotegratorAdapter, result: WalletOutcome
    ) -> None:
        """An OK missing its balance or its id is never answered as a success."""
        arrived = callback(bet())
        request = adapter.parse_callback(arrived)

        answer = adapter.render_outcome(arrived, request, result)

        assert orjson.loads(answer.body) == {
            "error_code": "INTERNAL_ERROR",
            "error_description": "Internal error",
        }

    @pytest.mark.parametrize(
        ("error", "code", "description"),
        [
            (InvalidSignature("X-Sign"), "INTERNAL_ERROR", "Invalid signature"),
            (BadRequest("finished must be 1 or 0"), "INTERNAL_ERROR", "Bad request: "),
            (AmountError("negative amount"), "INTERNAL_ERROR", "Bad request: "),
            (UnknownCurrency("XXQ"), "INTERNAL_ERROR", "Bad request: "),
            (UnknownOperation("unknown"), "INTERNAL_ERROR", "Bad request: "),
            (BodyTooLarge(), "INTERNAL_ERROR", "Bad request: "),
            (ProviderError("db", retryable=True), "INTERNAL_ERROR", "Temporary"),
            (ProviderError("upstream"), "INTERNAL_ERROR", "Internal error"),
            (GamegateError("anything"), "INTERNAL_ERROR", "Internal error"),
        ],
        ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
    )
    def test_error_table(
        self,
        adapter: SlotegratorAdapter,
        error: GamegateError,
        code: str,
        description: str,
    ) -> None:
        """Errors raised before the ledger render as the protocol's codes."""
        answer = adapter.render_error(callback(bet()), error)

        document = orjson.loads(answer.body)
        assert answer.status == 200
        assert document["error_code"] == code
        assert document["error_description"].startswith(description)

    def test_unknown_error_hides_its_detail(self, adapter: SlotegratorAdapter) -> None:
        """An internal error does not repeat the internal message."""
        answer = adapter.render_error(callback(bet()), GamegateError("db at /x"))

        assert b"db at" not in answer.body


def launch_request(mode: Mode = Mode.REAL) -> LaunchRequest:
    """Return a launch request with placeholder player data."""
    return LaunchRequest(
        session_token="gg-session-1",
        player=PLAYER,
        game=GAME,
        currency="EUR",
        mode=mode,
        language="de",
        country="DE",
        device=Device.MOBILE,
        ip="192.0.2.10",
        lobby_url="https://casino.example.test/lobby?from=game",
        cashier_url="https://casino.example.test/cashier",
    )


GAME_URL = "https://gis.example.test/launch/token-1"


def verify_signed(request: httpx.Request, params: Mapping[str, str]) -> None:
    """Check that an outbound request carries the documented X-Sign of params."""
    headers = {
        name: request.headers[name]
        for name in ("X-Merchant-Id", "X-Timestamp", "X-Nonce")
    }
    assert headers["X-Merchant-Id"] == MERCHANT
    assert abs(int(headers["X-Timestamp"]) - time.time()) < 5
    assert request.headers["X-Sign"] == reference_sign(params, headers)


class TestLaunch:
    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_real_launch(
        self, adapter: SlotegratorAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """A real launch posts the signed games init form and returns the URL."""
        route = respx_mock.post("/games/init").mock(
            return_value=httpx.Response(200, json={"url": GAME_URL})
        )

        result = await adapter.launch(launch_request())

        assert result.url == GAME_URL
        sent = route.calls.last.request
        params = dict(parse_qsl(sent.content.decode(), keep_blank_values=True))
        assert params == {
            "game_uuid": GAME,
            "player_id": PLAYER,
            "player_name": PLAYER,
            "currency": "EUR",
            "session_id": "gg-session-1",
            "device": "mobile",
            "language": "de",
            "return_url": "https://casino.example.test/lobby?from=game",
        }
        assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
        verify_signed(sent, params)

    @respx.mock(base_url=BASE_URL, assert_all_called=True)
    async def test_demo_launch(
        self, adapter: SlotegratorAdapter, respx_mock: respx.MockRouter
    ) -> None:
        """A demo launch posts to games/init-demo without player or session."""
        route = respx_mock.post("/games/init-demo").mock(
            return_value=httpx.Response(200, json={"url": GAME_URL})
        )

        result = await adapter.launch(launch_request(Mode.DEMO))

        assert result.url == GAME_URL
        sent = route.calls.last.request
        params = dict(parse_qsl(sent.content.decode(), keep_blank_values=True))
        assert params == {
            "game_uuid": GAME,
            "device": "mobile",
            "language": "de",
            "return_url": "https://casino.example.test/lobby?from=game",
        }
        verify_signed(sent, params)

    @pytest.mark.parametrize(
        ("answer", "retryable"),
        [
            (httpx.Response(500, json={"name": "Internal", "message": "x"}), True),
            (httpx.Response(502, text="bad gateway"), True),
            (httpx.Response(503), True),
            (httpx.ConnectError("refused"), True),
            (httpx.ConnectTimeout("slow"), True),
            (httpx.ReadTimeout("slow"), True),
            (httpx.Response(403, json={"name": "Forbidden", "message": "sign"}), False),
            (httpx.Response(404, json={"message": "Game not found"}), False),
            (httpx.Response(422, json=[{"field": "currency"}]), False),
            (httpx.Response(200, text="<html>"), False),
            (httpx.Response(200, json=[GAME_URL]), False),
            (httpx.Response(200, json={"link": GAME_URL}), False),
            (httpx.Response(200, json={"url": "javascript:alert(1)"}), False),
        ],
        ids=[
            "500",
            "502-text",
            "503-empty",
            "connect-error",
            "connect-timeout",
            "read-timeout",
            "403",
            "404",
            "422",
            "not-json",
            "not-an-object",
            "no-url",
            "not-http-url",
        ],
    )
    async def test_launch_failure(
        self,
        adapter: SlotegratorAdapter,
        answer: httpx.Response | Exception,
        retryable: bool,
    ) -> None:
        """Failures are ProviderErrors, retryable only for 5xx and transport faults."""
        with respx.mock(base_url=BASE_URL) as router:
            router.post("/games/init").mock(side_effect=[answer])

            with pytest.raises(ProviderError) as raised:
                await adapter.launch(launch_request())

        assert raised.value.retryable is retryable
        assert raised.value.context["provider"] == "slotegrator-direct"

    async def test_list_games_reads_every_page(
        self, adapter: SlotegratorAdapter
    ) -> None:
        """The game list is read page by page, each GET signed over its query."""
        pages = {
            "1": [
                {
                    "uuid": GAME,
                    "name": "Fruit Reels",
                    "provider": "example-studio",
                    "type": "slots",
                    "has_freespins": 1,
                }
            ],
            "2": [{"uuid": "g-2", "name": "Blackjack", "provider": "table-house"}],
        }

        def answer(request: httpx.Request) -> httpx.Response:
            page = request.url.params["page"]
            verify_signed(request, {"page": page})
            meta = {"pageCount": 2, "currentPage": int(page), "totalCount": 2}
            return httpx.Response(200, json={"items": pages[page], "_meta": meta})

        with respx.mock(base_url=BASE_URL) as router:
            route = router.get("/games").mock(side_effect=answer)

            games = await adapter.list_games()

        assert games == (
            GameDescriptor(
                id=GAME,
                name="Fruit Reels",
                studio="example-studio",
                category="slots",
                free_rounds=True,
            ),
            GameDescriptor(id="g-2", name="Blackjack", studio="table-house"),
        )
        assert [urlsplit(str(c.request.url)).query for c in route.calls] == [
            "page=1",
            "page=2",
        ]

    @pytest.mark.parametrize(
        "document",
        [
            {"items": {}},
            {"items": [{"name": "no uuid", "provider": "p"}]},
            {"items": [7]},
            {"items": [], "_meta": {"pageCount": 501}},
        ],
        ids=["not-a-list", "missing-uuid", "not-an-object", "too-many-pages"],
    )
    async def test_malformed_game_list(
        self, adapter: SlotegratorAdapter, document: dict[str, Any]
    ) -> None:
        """A game list the adapter cannot read whole is a non-retryable error."""
        with respx.mock(base_url=BASE_URL) as router:
            router.get("/games").mock(return_value=httpx.Response(200, json=document))

            with pytest.raises(ProviderError) as raised:
                await adapter.list_games()

        assert raised.value.retryable is False


class TestPlugin:
    def test_declares_the_contract(self) -> None:
        """The adapter declares its name, config, profile and callback path."""
        assert issubclass(SlotegratorAdapter, GameAdapter)
        assert SlotegratorAdapter.name == "slotegrator"
        assert SlotegratorAdapter.config_model is SlotegratorConfig
        assert SlotegratorAdapter.callback_paths == ("callback",)
        assert SlotegratorAdapter.profile.unknown_rollback is Status.OK
        assert SlotegratorAdapter.profile.credit_without_debit is True
        assert SlotegratorAdapter.profile.reverse_settled is True
        assert SlotegratorAdapter.capabilities.demo is True

    def test_registers_through_the_hook(self) -> None:
        """The entry-point module registers the adapter through register_adapters."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(AdapterSpecs)
        manager.register(adapters.slotegrator)
        manager.check_pending()
        registered: list[type[GameAdapter]] = []

        manager.hook.register_adapters(register=registered.append)

        assert registered == [SlotegratorAdapter]

    def test_loads_in_the_gateway(self) -> None:
        """The gateway's plugin loader accepts the package in-process."""
        registry = load_adapters(plugins=[adapters.slotegrator])

        assert registry.get("slotegrator").cls is SlotegratorAdapter

    def test_imports_only_the_contract(self) -> None:
        """The adapter package never imports the gateway runtime."""
        package = Path(adapters.slotegrator.__file__).parent
        imported: set[str] = set()
        for source in package.glob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module)

        assert not {name for name in imported if name.split(".")[0] == "gateway"}


class TestConfig:
    @pytest.mark.parametrize(
        "changes",
        [
            {"base_url": "ftp://gis.example.test"},
            {"base_url": "gis.example.test"},
            {"base_url": "https://gis.example.test/?a=1"},
            {"merchant_key": ""},
            {"merchant_id": ""},
            {"timestamp_window_seconds": 0},
            {"timestamp_window_seconds": 3600},
            {"timeout_seconds": 0},
            {"surprise": True},
        ],
        ids=[
            "ftp",
            "no-scheme",
            "query",
            "empty-key",
            "empty-merchant",
            "zero-window",
            "hour-window",
            "zero-timeout",
            "unknown-key",
        ],
    )
    def test_refused(self, changes: dict[str, Any]) -> None:
        """A config the adapter could not work with fails validation."""
        values = {
            "base_url": BASE_URL,
            "merchant_id": MERCHANT,
            "merchant_key": KEY,
            **changes,
        }

        with pytest.raises(ValidationError):
            SlotegratorConfig(**values)

    def test_defaults_and_secret(self) -> None:
        """The window defaults to 30 seconds and the key never shows in a repr."""
        config = SlotegratorConfig(
            base_url=BASE_URL + "/", merchant_id=MERCHANT, merchant_key=SecretStr(KEY)
        )

        assert config.timestamp_window_seconds == 30
        assert config.base_url == BASE_URL
        assert KEY not in repr(config)
