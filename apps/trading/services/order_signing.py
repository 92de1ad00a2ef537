"""From an Order row to its signed copies: the wallet's key, nonce, fees, tips, quote.

The bridge between the order state machine (execution.py) and the pieces that know the
chain: order_builder (venue, quote, instructions), nonce, engines (tip accounts), wallets
(the only place a key is opened).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from apps.chain.rpc import RpcError, RpcUnavailable
from apps.chain.rpc_pool import rpc_pool
from apps.trading.models import Order
from apps.trading.services import nonce as nonces
from apps.trading.services import order_builder as builder
from apps.trading.services.engines import engine
from apps.trading.services.execution import BuildFailed, SignedCopy
from apps.trading.services.priority_fees import priority_fee_estimate
from apps.trading.services.simulation import decode_error
from apps.trading.services.wallets import wallet_keypair

FALLBACK_ROUTE = "rpc"


@dataclass(frozen=True)
class BuiltCopies:
    copies: list[SignedCopy]
    venue: str
    quote: dict[str, Any]
    nonce_account: str
    nonce_value: str
    compute_unit_price: int


async def _compute_unit_price(order: Order) -> int:
    if order.compute_unit_price is not None:
        return order.compute_unit_price
    estimate = await priority_fee_estimate(rpc=rpc_pool(), accounts=[order.mint])
    return estimate["levels"][order.priority_level or "medium"]["compute_unit_price"]


async def _sell_amount(order: Order) -> int:
    if order.amount_kind != Order.AmountKind.PERCENT:
        return int(order.amount)
    answer = await rpc_pool().call(
        "getTokenAccountsByOwner",
        [order.wallet.pubkey, {"mint": order.mint}, {"encoding": "jsonParsed"}],
    )
    holding = sum(
        int(a["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"])
        for a in answer["value"]
    )
    return builder.resolve_sell_amount(holding, int(order.amount))


async def build_copies(order: Order) -> BuiltCopies:
    """One signed copy per engine (each tipping that engine) plus the untipped RPC copy, all
    over the wallet's current nonce. BuildFailed when the order cannot be built."""
    wallet = order.wallet
    signer = wallet_keypair(wallet)
    try:
        nonce_account = await nonces.ensure_nonce_account(wallet, signer)
        nonce_value = await nonces.read_nonce_value(nonce_account)
        if nonce_value is None:
            raise BuildFailed("nonce_unavailable", "the wallet's nonce account is not readable")
        price = await _compute_unit_price(order)
        amount = int(order.amount) if order.side == "buy" else await _sell_amount(order)
        plan = await builder.plan_order(
            wallet=signer.pubkey(),
            mint=order.mint,
            side=order.side,
            amount=amount,
            slippage_bps=order.slippage_bps,
            compute_unit_price=price,
            compute_unit_limit=settings.ORDER_COMPUTE_UNIT_LIMIT,
        )
    except builder.OrderBuildError as exc:
        code = exc.code if exc.code != "invalid" else f"invalid_{exc.field}"
        raise BuildFailed(code, str(exc)) from None
    except nonces.NonceError as exc:
        raise BuildFailed("nonce_unavailable", str(exc)) from None
    except (RpcUnavailable, RpcError):
        raise  # transient: the order stays building and is resumed
    tips: dict[str, builder.Tip | None] = {}
    for name in order.engines:
        client = engine(name)
        lamports = max(order.tip_lamports, client.min_tip_lamports)
        tips[name] = builder.Tip(lamports, client.tip_account(order.pk))
    tips[FALLBACK_ROUTE] = None
    built = builder.build_copies(
        plan,
        signer=signer,
        tips=tips,
        nonce=builder.DurableNonce(
            Pubkey.from_string(nonce_account), Hash.from_string(nonce_value)
        ),
    )
    return BuiltCopies(
        copies=[SignedCopy(route, b.signature, b.tx_bytes) for route, b in built.items()],
        venue=plan.venue.value,
        quote=plan.quote.as_dict(),
        nonce_account=nonce_account,
        nonce_value=nonce_value,
        compute_unit_price=price,
    )


def describe_chain_error(order: Order, err: Any) -> tuple[str, str]:
    """(code, message) of a copy that landed with an error: the program's error by name."""
    copy = (order.signed_transactions or [None])[0]
    if copy is None:
        return "chain_error", str(err)[:500]
    import base64

    message = VersionedTransaction.from_bytes(base64.b64decode(copy["tx"])).message
    decoded = decode_error(err, keys=list(message.account_keys), message=message, logs=[])
    name = decoded.name or decoded.kind
    return name, decoded.message or str(err)[:500]


async def retire_nonce(order: Order) -> None:
    """Advance the order's nonce so that none of its copies can land any more."""
    await nonces.advance_nonce(order.nonce_account, wallet_keypair(order.wallet))
