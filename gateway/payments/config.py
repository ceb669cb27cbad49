"""The `payments:` section of the config: routes, the casino's webhook, outbox.

```yaml
payments:
  routes:                      # tried in order, the first match decides
    - name: eu-cards
      match: {kind: deposit, currency: [EUR], country: [DE, AT],
              method: card, min: "10.00", max: "5000.00"}
      use: adyen-eu            # or split: [{use: a, weight: 3}, {use: b, weight: 1}]
      fallback: [trustly-eu]   # tried in order on failures safe to retry
  notify: {url: https://casino.example/gamegate/payments, secret: ${NOTIFY_SECRET}}
  outbox: {poll_seconds: 1, backoff_seconds: 2, max_backoff_seconds: 600}
```

Amount bounds are decimal strings in whole units of the payment's currency,
compared exactly and inclusively; no float is ever involved. This module
imports only pydantic, so `gateway.config` can embed it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from contracts.payments import PaymentKind, PaymentMethod

_DECIMAL = re.compile(r"[0-9]{1,30}(\.[0-9]{1,18})?")

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,9}$")]


def _one_or_many(value: object) -> object:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


def _as_text(value: object) -> object:
    # YAML reads `min: 10` as an int; an int is exact, a float never is.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Many = BeforeValidator(_one_or_many)
Bound = Annotated[str | None, BeforeValidator(_as_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PaymentMatch(_Strict):
    """What a payment must carry for a rule to match; unset keys match anything.

    Each list key takes one value or a list. `min` and `max` bound the amount
    inclusively, as decimal strings in whole units of the payment's currency.
    """

    kind: Annotated[tuple[PaymentKind, ...] | None, Many] = None
    operator: Annotated[tuple[Text, ...] | None, Many] = None
    currency: Annotated[tuple[CurrencyCode, ...] | None, Many] = None
    country: Annotated[tuple[Country, ...] | None, Many] = None
    method: Annotated[tuple[PaymentMethod, ...] | None, Many] = None
    min: Bound = None
    max: Bound = None

    @field_validator("min", "max")
    @classmethod
    def _decimal(cls, value: str | None) -> str | None:
        if value is not None and not _DECIMAL.fullmatch(value):
            raise ValueError(f"must be a decimal string such as '10.00', not {value!r}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> PaymentMatch:
        bounded = self.min is not None and self.max is not None
        if bounded and Decimal(str(self.min)) > Decimal(str(self.max)):
            raise ValueError("min is larger than max")
        return self


class PaymentShare(_Strict):
    """One side of a weighted split: a payment provider instance and its weight."""

    use: Name
    weight: int = Field(ge=0, le=1_000_000)


class PaymentRoute(_Strict):
    """A payment routing rule: what it matches, where it sends, its fallback.

    The target is `use: instance` or a weighted `split:`, where each player
    keeps one side. `fallback` lists instances tried in order when the one
    before failed in a way that is safe to retry elsewhere.
    """

    name: Text | None = None
    match: PaymentMatch = PaymentMatch()
    use: Name | None = None
    split: tuple[PaymentShare, ...] | None = None
    fallback: tuple[Name, ...] = ()

    @model_validator(mode="after")
    def _one_target(self) -> PaymentRoute:
        if (self.use is None) == (self.split is None):
            raise ValueError("give either use or split")
        if self.split is not None:
            names = [share.use for share in self.split]
            if not names or sum(share.weight for share in self.split) == 0:
                raise ValueError("split: needs at least one share with a weight")
            if len(set(names)) != len(names):
                raise ValueError("split: an instance appears twice")
        if len(set(self.fallback)) != len(self.fallback):
            raise ValueError("fallback: an instance appears twice")
        return self

    def targets(self) -> list[tuple[str, str]]:
        """Return (key path, instance) of every instance the rule may send to."""
        found = [("use", self.use)] if self.use is not None else []
        found += [(f"split.{i}.use", s.use) for i, s in enumerate(self.split or ())]
        found += [(f"fallback.{i}", name) for i, name in enumerate(self.fallback)]

        return found


class NotifyConfig(_Strict):
    """The casino's webhook: where state changes are sent, and the signing key."""

    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+")]
    secret: SecretStr

    @field_validator("secret")
    @classmethod
    def _long_secret(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < 16:
            raise ValueError("the notify secret must be at least 16 characters")
        return secret


class OutboxConfig(_Strict):
    """How the casino's notifications are delivered and retried.

    A failed delivery waits `backoff_seconds * 2**attempts`, capped at
    `max_backoff_seconds`, then jittered down by up to half, and is tried
    again for as long as it takes: a notification is never dropped.
    """

    poll_seconds: float = Field(default=1.0, gt=0, le=60)
    backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(default=600.0, gt=0, le=86_400)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    batch: int = Field(default=50, ge=1, le=1000)


class PaymentsConfig(_Strict):
    """Payments: the routing rules, the casino's webhook and its outbox."""

    routes: tuple[PaymentRoute, ...] = ()
    seed: Annotated[str, StringConstraints(max_length=64)] = ""
    notify: NotifyConfig | None = None
    outbox: OutboxConfig = OutboxConfig()


ProviderKind = Literal["game", "payment"]
