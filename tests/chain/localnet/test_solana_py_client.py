"""solana-py's AsyncClient, a client no one here wrote, against the localnet over HTTP.

The clock runs (20 ms slots) so confirmation happens by itself, as on a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts, TokenAccountOpts, TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.errors import RpcCustomErrorFieldless, SendTransactionPreflightFailureMessage
from solders.transaction import VersionedTransaction

from apps.chain.localnet import LocalnetHandle, start_localnet_in_thread
from apps.chain.localnet.fixtures import (
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    TransferFee,
    create_mint,
    create_token_account,
    mint_to,
)
from tests.chain.localnet import SOL, badly_signed, transfer_tx


@pytest.fixture(scope="module")
def net() -> Iterator[LocalnetHandle]:
    with start_localnet_in_thread(slot_ms=20) as handle:
        yield handle


async def _funded(client: AsyncClient, lamports: int = 10 * SOL) -> Keypair:
    keypair = Keypair()
    signature = (await client.request_airdrop(keypair.pubkey(), lamports)).value
    await client.confirm_transaction(signature, Confirmed, sleep_seconds=0.02)
    return keypair


async def test_airdrop_transfer_confirm_and_read_back(net: LocalnetHandle) -> None:
    async with AsyncClient(net.rpc_url, commitment=Confirmed) as client:
        payer = await _funded(client)
        to = Keypair().pubkey()
        blockhash = (await client.get_latest_blockhash()).value.blockhash

        sent = await client.send_transaction(transfer_tx(payer, to, 3 * SOL, blockhash))
        await client.confirm_transaction(sent.value, Finalized, sleep_seconds=0.05)

        statuses = (await client.get_signature_statuses([sent.value])).value
        assert statuses[0] is not None and statuses[0].err is None
        assert str(statuses[0].confirmation_status) == "TransactionConfirmationStatus.Finalized"
        assert (await client.get_balance(to)).value == 3 * SOL
        assert (await client.get_balance(payer.pubkey())).value == 7 * SOL - 5000
        tx = (await client.get_transaction(sent.value, max_supported_transaction_version=0)).value
        assert tx is not None and tx.transaction.meta.fee == 5000
        history = (await client.get_signatures_for_address(to)).value
        assert [item.signature for item in history] == [sent.value]


async def test_simulate_with_replace_recent_blockhash(net: LocalnetHandle) -> None:
    async with AsyncClient(net.rpc_url, commitment=Confirmed) as client:
        payer = await _funded(client)
        stale = transfer_tx(payer, Keypair().pubkey(), SOL, Hash.new_unique())

        simulated = await client.simulate_transaction(stale, commitment=Processed)
        replaced = await client.simulate_transaction(
            stale,
            commitment=Processed,
            replace_recent_blockhash=True,
            accounts_addresses=[payer.pubkey()],
        )

        assert str(simulated.value.err) == "TransactionErrorFieldless.BlockhashNotFound"
        assert replaced.value.err is None
        assert replaced.value.units_consumed == 150
        assert replaced.value.replacement_blockhash is not None
        assert replaced.value.accounts[0].lamports == 9 * SOL - 5000


async def test_bad_signature_error_shape(net: LocalnetHandle) -> None:
    async with AsyncClient(net.rpc_url, commitment=Confirmed) as client:
        payer = await _funded(client)
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        tx = badly_signed(transfer_tx(payer, Keypair().pubkey(), SOL, blockhash))

        with pytest.raises(RPCException) as caught:
            await client.send_transaction(tx)

        # solders maps code -32003 to its own named variant: proof the code is right.
        assert (
            caught.value.args[0] == RpcCustomErrorFieldless.TransactionSignatureVerificationFailure
        )


async def test_expired_blockhash_error_shape(net: LocalnetHandle) -> None:
    async with AsyncClient(net.rpc_url, commitment=Confirmed) as client:
        payer = await _funded(client)
        old = (await client.get_latest_blockhash(Processed)).value.blockhash
        net.chain.advance_slot(151)  # the clock also runs; stepping it just saves time
        tx = transfer_tx(payer, Keypair().pubkey(), SOL, old)

        with pytest.raises(RPCException) as caught:
            await client.send_transaction(tx, opts=TxOpts(preflight_commitment=Processed))

        error = caught.value.args[0]
        assert isinstance(error, SendTransactionPreflightFailureMessage)
        assert error.message == "Transaction simulation failed: Blockhash not found"
        assert str(error.data.err) == "TransactionErrorFieldless.BlockhashNotFound"


async def test_accounts_fees_and_versions_parse(net: LocalnetHandle) -> None:
    async with AsyncClient(net.rpc_url, commitment=Confirmed) as client:
        payer = await _funded(client)
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        tx: VersionedTransaction = transfer_tx(
            payer, Keypair().pubkey(), SOL, blockhash, cu_price=2_000
        )

        assert (await client.get_fee_for_message(tx.message)).value == 5000 + 12
        sent = await client.send_transaction(tx, opts=TxOpts(preflight_commitment=Processed))
        # Confirmed means a later slot has started, so the fee cache holds the tx's slot.
        await client.confirm_transaction(sent.value, Confirmed, sleep_seconds=0.02)
        fees = (await client.get_recent_prioritization_fees([payer.pubkey()])).value
        assert any(fee.prioritization_fee == 2_000 for fee in fees)
        accounts = (await client.get_multiple_accounts([payer.pubkey(), Keypair().pubkey()])).value
        assert accounts[0] is not None and accounts[1] is None
        assert (await client.get_account_info(payer.pubkey())).value.lamports > 0
        assert (await client.get_minimum_balance_for_rent_exemption(82)).value == 1_461_600
        assert (await client.get_slot(Processed)).value >= (
            await client.get_block_height(Finalized)
        ).value
        assert (await client.get_version()).value.solana_core == "2.3.0"
        assert await client.is_connected()


@pytest.mark.parametrize("program", [TOKEN_PROGRAM, TOKEN_2022_PROGRAM], ids=["spl", "t22"])
async def test_token_reads_parse_in_solana_py(net: LocalnetHandle, program: Pubkey) -> None:
    async with AsyncClient(net.rpc_url, commitment=Confirmed) as client:
        payer = await _funded(client)
        holder = Keypair()
        extensions = (
            [TransferFee(basis_points=50, maximum_fee=10)] if program != TOKEN_PROGRAM else []
        )
        mint = create_mint(net, payer, decimals=3, program=program, extensions=extensions)
        ata = create_token_account(net, payer, mint, holder.pubkey())
        mint_to(net, payer, mint, ata, 12_345)

        owned = await client.get_token_accounts_by_owner_json_parsed(
            holder.pubkey(), TokenAccountOpts(program_id=program)
        )
        balance = await client.get_token_account_balance(ata)
        supply = await client.get_token_supply(mint)
        largest = await client.get_token_largest_accounts(mint)
        accounts = await client.get_program_accounts(
            program, encoding="base64", filters=[MemcmpOpts(offset=0, bytes=str(mint))]
        )

        [keyed] = owned.value
        assert keyed.pubkey == ata
        parsed = keyed.account.data.parsed
        assert parsed["info"]["tokenAmount"]["uiAmountString"] == "12.345"
        assert keyed.account.data.program == (
            "spl-token" if program == TOKEN_PROGRAM else "spl-token-2022"
        )
        assert balance.value.amount == "12345" and balance.value.ui_amount == 12.345
        assert supply.value.amount == "12345" and supply.value.decimals == 3
        assert [(a.address, a.amount.amount) for a in largest.value] == [(ata, "12345")]
        assert [a.pubkey for a in accounts.value] == [ata]
        assert accounts.value[0].account.owner == program
