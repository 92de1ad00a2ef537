"""The token fixture API: real signed transactions that the token programs accept or refuse."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from apps.chain.localnet import Chain, LocalnetHandle
from apps.chain.localnet.fixtures import (
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    FixtureTransactionError,
    MintCloseAuthority,
    NonTransferable,
    TransferFee,
    airdrop,
    associated_token_address,
    create_mint,
    create_token_account,
    mint_to,
    token_balance,
    transfer,
)
from apps.chain.localnet.token_parsing import ExtensionType, unpack_mint, unpack_token_account
from tests.chain.localnet import SOL


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


@pytest.fixture
def funded(chain: Chain) -> Keypair:
    keypair = Keypair()
    airdrop(chain, keypair.pubkey(), 10 * SOL)
    return keypair


@pytest.mark.parametrize("program", [TOKEN_PROGRAM, TOKEN_2022_PROGRAM], ids=["spl", "t22"])
def test_create_mint__initialised_and_rent_exempt(
    chain: Chain, funded: Keypair, program: object
) -> None:
    freezer = Keypair().pubkey()

    mint = create_mint(chain, funded, decimals=9, program=program, freeze_authority=freezer)

    account = chain.get_account(mint)
    state = unpack_mint(bytes(account.data))
    assert account.owner == program and len(account.data) == 82
    assert account.lamports == chain.minimum_balance_for_rent_exemption(82)
    assert state.decimals == 9 and state.supply == 0
    assert state.mint_authority == funded.pubkey() and state.freeze_authority == freezer


def test_create_mint__extension_space_and_order(chain: Chain, funded: Keypair) -> None:
    closer = Keypair().pubkey()

    mint = create_mint(
        chain,
        funded,
        program=TOKEN_2022_PROGRAM,
        extensions=[TransferFee(basis_points=100, maximum_fee=50), MintCloseAuthority(closer)],
    )

    account = chain.get_account(mint)
    # 165 padded base + AccountType + (4 + 108) fee config + (4 + 32) close authority
    assert len(account.data) == 314
    assert account.lamports == chain.minimum_balance_for_rent_exemption(314)
    state = unpack_mint(bytes(account.data))
    assert [t for t, _ in state.extensions] == [
        ExtensionType.TRANSFER_FEE_CONFIG,
        ExtensionType.MINT_CLOSE_AUTHORITY,
    ]
    assert state.extensions[1][1] == bytes(closer)


def test_create_mint__extensions_need_token_2022(chain: Chain, funded: Keypair) -> None:
    with pytest.raises(ValueError, match="Token-2022"):
        create_mint(chain, funded, program=TOKEN_PROGRAM, extensions=[NonTransferable()])


def test_create_token_account__associated_and_idempotent(chain: Chain, funded: Keypair) -> None:
    mint = create_mint(chain, funded, program=TOKEN_2022_PROGRAM)
    owner = Keypair().pubkey()

    first = create_token_account(chain, funded, mint, owner)
    again = create_token_account(chain, funded, mint, owner)

    assert first == again == associated_token_address(owner, mint, TOKEN_2022_PROGRAM)
    state = unpack_token_account(bytes(chain.get_account(first).data))
    assert state.owner == owner and state.mint == mint and state.amount == 0


def test_mint_to_and_transfer__balances_move(chain: Chain, funded: Keypair) -> None:
    mint = create_mint(chain, funded, decimals=2)
    alice = Keypair()
    alice_ata = create_token_account(chain, funded, mint, alice.pubkey())
    bob_ata = create_token_account(chain, funded, mint, Keypair().pubkey())

    mint_to(chain, funded, mint, alice_ata, 1_000)
    mint_to(chain, funded, mint, alice_ata, 1_000)  # same instruction twice in one slot
    transfer(chain, funded, alice_ata, bob_ata, 300, owner=alice)

    assert token_balance(chain, alice_ata) == 1_700
    assert token_balance(chain, bob_ata) == 300
    assert unpack_mint(bytes(chain.get_account(mint).data)).supply == 2_000


def test_transfer__fee_is_withheld_by_token_2022(chain: Chain, funded: Keypair) -> None:
    mint = create_mint(
        chain,
        funded,
        program=TOKEN_2022_PROGRAM,
        extensions=[TransferFee(basis_points=100, maximum_fee=1_000_000)],
    )
    alice = Keypair()
    alice_ata = create_token_account(chain, funded, mint, alice.pubkey())
    bob_ata = create_token_account(chain, funded, mint, Keypair().pubkey())
    mint_to(chain, funded, mint, alice_ata, 10_000)

    transfer(chain, funded, alice_ata, bob_ata, 10_000, owner=alice)

    bob = unpack_token_account(bytes(chain.get_account(bob_ata).data))
    withheld = dict(bob.extensions)[ExtensionType.TRANSFER_FEE_AMOUNT]
    assert bob.amount == 9_900
    assert int.from_bytes(withheld, "little") == 100


def test_failed_transaction__raises_with_logs(chain: Chain, funded: Keypair) -> None:
    mint = create_mint(chain, funded)
    ata = create_token_account(chain, funded, mint, Keypair().pubkey())

    with pytest.raises(FixtureTransactionError) as caught:
        mint_to(chain, funded, mint, ata, 5, authority=Keypair())  # not the mint authority

    assert caught.value.err == {"InstructionError": [0, {"Custom": 4}]}  # OwnerMismatch
    assert any("owner does not match" in line for line in caught.value.logs)
    assert "mint_to failed" in str(caught.value)
    assert token_balance(chain, ata) == 0


def test_non_transferable__transfer_refused(chain: Chain, funded: Keypair) -> None:
    mint = create_mint(chain, funded, program=TOKEN_2022_PROGRAM, extensions=[NonTransferable()])
    alice = Keypair()
    alice_ata = create_token_account(chain, funded, mint, alice.pubkey())
    bob_ata = create_token_account(chain, funded, mint, Keypair().pubkey())
    mint_to(chain, funded, mint, alice_ata, 10)

    with pytest.raises(FixtureTransactionError, match="transfer failed"):
        transfer(chain, funded, alice_ata, bob_ata, 1, owner=alice)

    assert token_balance(chain, alice_ata) == 10


def test_fixtures__accept_a_localnet_handle(net: LocalnetHandle, payer: Keypair) -> None:
    mint = create_mint(net, payer, decimals=0)
    ata = create_token_account(net, payer, mint, payer.pubkey())

    mint_to(net, payer, mint, ata, 42)

    assert token_balance(net, ata) == 42
    assert net.chain.transactions_for_address(mint)  # recorded like any transaction
