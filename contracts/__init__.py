"""Everything an adapter author may import: the normalized contract."""

from contracts.adapter import (
    CONTRACT_VERSION,
    AdapterConfig,
    AdapterContext,
    Callback,
    CallbackAnswer,
    Capabilities,
    GameAdapter,
)
from contracts.errors import (
    AmountError,
    BadRequest,
    BodyTooLarge,
    ConfigError,
    GamegateError,
    InvalidSignature,
    ProviderError,
    UnknownCurrency,
    UnknownOperation,
)
from contracts.hookspecs import hookimpl
from contracts.launch import Device, GameDescriptor, LaunchRequest, LaunchResult, Mode
from contracts.money import MAX_MINOR, CurrencyTable, Money
from contracts.wallet import (
    CreditKind,
    Operation,
    OperationOutcome,
    Profile,
    Status,
    WalletOperation,
    WalletOutcome,
    WalletRequest,
)

__all__ = [
    "CONTRACT_VERSION",
    "MAX_MINOR",
    "AdapterConfig",
    "AdapterContext",
    "AmountError",
    "BadRequest",
    "BodyTooLarge",
    "Callback",
    "CallbackAnswer",
    "Capabilities",
    "ConfigError",
    "CreditKind",
    "CurrencyTable",
    "Device",
    "GameAdapter",
    "GameDescriptor",
    "GamegateError",
    "InvalidSignature",
    "LaunchRequest",
    "LaunchResult",
    "Mode",
    "Money",
    "Operation",
    "OperationOutcome",
    "Profile",
    "ProviderError",
    "Status",
    "UnknownCurrency",
    "UnknownOperation",
    "WalletOperation",
    "WalletOutcome",
    "WalletRequest",
    "hookimpl",
]
