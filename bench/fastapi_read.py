"""Minimal FastAPI app doing the balance and token-accounts reads: the reference ceiling.

    BENCH_RPC_URL=http://127.0.0.1:9000 granian --interface asgi bench.fastapi_read:application

Same upstream calls with the same client as the platform (the services in
apps/trading/services/accounts.py over apps.chain.rpc.Endpoint, one httpx client per
loop), so the difference bench/read_api.py measures is the platform's own overhead:
Django, Ninja, validation, the pool.
"""

import os

from fastapi import FastAPI
from pydantic import BaseModel

from apps.chain.rpc import Endpoint
from apps.trading.services.accounts import account_balance, token_accounts


class BalanceOut(BaseModel):
    pubkey: str
    lamports: int
    sol: str
    slot: int


class TokenAccountOut(BaseModel):
    account: str
    mint: str
    amount: str
    decimals: int
    ui_amount: str
    program: str
    frozen: bool


class TokensOut(BaseModel):
    owner: str
    slot: int
    accounts: list[TokenAccountOut]


UPSTREAM = Endpoint(os.environ.get("BENCH_RPC_URL", "http://127.0.0.1:8899"))
application = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@application.get("/api/ping")
async def ping():
    return {"pong": True}


@application.get("/balance/{pubkey}", response_model=BalanceOut)
async def balance(pubkey: str):
    return await account_balance(rpc=UPSTREAM, pubkey=pubkey)


@application.get("/tokens/{pubkey}", response_model=TokensOut)
async def tokens(pubkey: str):
    return await token_accounts(rpc=UPSTREAM, owner=pubkey)
