"""Build token worlds on the localnet with real, signed transactions.

    mint = create_mint(chain, payer, decimals=6, program=TOKEN_2022_PROGRAM,
                       extensions=[TransferFee(basis_points=100, maximum_fee=5_000)])
    ata = create_token_account(chain, payer, mint, owner.pubkey())
    mint_to(chain, payer, mint, ata, 1_000_000)
    assert token_balance(chain, ata) == 1_000_000

Every helper sends its instructions through `Chain.execute`, so the token programs
(SPL Token, Token-2022, Associated Token Account, all loaded by LiteSVM) enforce their
real rules, and the chain records the transactions like any other. A transaction that
fails raises FixtureTransactionError carrying the program logs.

solana-py's `spl` package does not build Token-2022 extension instructions, so those are
encoded here from the program's instruction layouts (token-2022 `instruction.rs` and
`extension/*/instruction.rs`): a u8 TokenInstruction tag, for extensions a u8
sub-instruction, then the fields; `COption<Pubkey>` is a u8 tag and the key when present,
`OptionalNonZeroPubkey` is 32 bytes with zeros for None.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from solders.compute_budget import set_compute_unit_limit
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
)

from .chain import Chain, ExecutionOutcome
from .records import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from .token_parsing import (
    EXTENSION_SIZES,
    MINT_LEN,
    TOKEN_PROGRAMS,
    ExtensionType,
    account_len_with_extensions,
    unpack_mint,
    unpack_token_account,
)

__all__ = [
    "TOKEN_2022_PROGRAM",
    "TOKEN_PROGRAM",
    "DefaultAccountState",
    "FixtureTransactionError",
    "MintCloseAuthority",
    "MintExtension",
    "NonTransferable",
    "Pausable",
    "PermanentDelegate",
    "TransferFee",
    "TransferHook",
    "airdrop",
    "approve",
    "associated_token_address",
    "create_mint",
    "create_token_account",
    "mint_to",
    "send_instructions",
    "token_balance",
    "token_program_of",
    "transfer",
]

# TokenInstruction tags shared by both programs, then the Token-2022 extension ones.
_APPROVE = 4
_MINT_TO = 7
_TRANSFER_CHECKED = 12
_INITIALIZE_MINT2 = 20
_INITIALIZE_MINT_CLOSE_AUTHORITY = 25
_TRANSFER_FEE_EXTENSION = 26
_DEFAULT_ACCOUNT_STATE_EXTENSION = 28
_INITIALIZE_NON_TRANSFERABLE_MINT = 32
_INITIALIZE_PERMANENT_DELEGATE = 35
_TRANSFER_HOOK_EXTENSION = 36
_PAUSABLE_EXTENSION = 44
_EXTENSION_INITIALIZE = 0  # sub-instruction 0 of every "...Extension" group
_ACCOUNT_STATE_FROZEN = 2
_ACCOUNT_STATE_INITIALIZED = 1

_ZERO_KEY = bytes(32)


class FixtureTransactionError(RuntimeError):
    """A fixture transaction did not land or failed on chain; `logs` holds the program logs."""

    def __init__(self, what: str, outcome: ExecutionOutcome) -> None:
        self.err = outcome.err
        self.signature = outcome.signature
        self.logs = list(outcome.record.logs) if outcome.record is not None else []
        logs = "\n  ".join(self.logs) or "(no logs: the transaction was not executed)"
        super().__init__(f"{what} failed: {outcome.err}\n  {logs}")


class _HasChain(Protocol):
    chain: Chain


ChainLike = Chain | _HasChain


def _chain(target: ChainLike) -> Chain:
    """Accept a Chain or anything holding one (the LocalnetHandle of start_localnet_in_thread)."""
    return target if isinstance(target, Chain) else target.chain


# ---- mint extensions ------------------------------------------------------------------


class MintExtension:
    """A Token-2022 mint extension the fixture can initialise before InitializeMint2."""

    extension_type: int

    def instruction(self, mint: Pubkey) -> Instruction:
        raise NotImplementedError


def _mint_ix(data: bytes, mint: Pubkey) -> Instruction:
    return Instruction(TOKEN_2022_PROGRAM, data, [AccountMeta(mint, False, True)])


def _coption_key(key: Pubkey | None) -> bytes:
    return b"\x00" if key is None else b"\x01" + bytes(key)


def _optional_nonzero_key(key: Pubkey | None) -> bytes:
    return _ZERO_KEY if key is None else bytes(key)


@dataclass(frozen=True)
class TransferFee(MintExtension):
    """A fee of `basis_points` on every transfer, capped at `maximum_fee` base units."""

    basis_points: int
    maximum_fee: int
    config_authority: Pubkey | None = None
    withdraw_withheld_authority: Pubkey | None = None
    extension_type = ExtensionType.TRANSFER_FEE_CONFIG

    def instruction(self, mint: Pubkey) -> Instruction:
        data = (
            bytes([_TRANSFER_FEE_EXTENSION, _EXTENSION_INITIALIZE])
            + _coption_key(self.config_authority)
            + _coption_key(self.withdraw_withheld_authority)
            + struct.pack("<HQ", self.basis_points, self.maximum_fee)
        )
        return _mint_ix(data, mint)


@dataclass(frozen=True)
class TransferHook(MintExtension):
    """Every transfer CPIs into `program_id`."""

    program_id: Pubkey
    authority: Pubkey | None = None
    extension_type = ExtensionType.TRANSFER_HOOK

    def instruction(self, mint: Pubkey) -> Instruction:
        data = (
            bytes([_TRANSFER_HOOK_EXTENSION, _EXTENSION_INITIALIZE])
            + _optional_nonzero_key(self.authority)
            + _optional_nonzero_key(self.program_id)
        )
        return _mint_ix(data, mint)


@dataclass(frozen=True)
class PermanentDelegate(MintExtension):
    """`delegate` may move or burn tokens from every account of the mint."""

    delegate: Pubkey
    extension_type = ExtensionType.PERMANENT_DELEGATE

    def instruction(self, mint: Pubkey) -> Instruction:
        return _mint_ix(bytes([_INITIALIZE_PERMANENT_DELEGATE]) + bytes(self.delegate), mint)


@dataclass(frozen=True)
class NonTransferable(MintExtension):
    """Soul-bound tokens: no account of the mint can transfer them."""

    extension_type = ExtensionType.NON_TRANSFERABLE

    def instruction(self, mint: Pubkey) -> Instruction:
        return _mint_ix(bytes([_INITIALIZE_NON_TRANSFERABLE_MINT]), mint)


@dataclass(frozen=True)
class DefaultAccountState(MintExtension):
    """New token accounts start frozen (needs a freeze authority on the mint)."""

    frozen: bool = True
    extension_type = ExtensionType.DEFAULT_ACCOUNT_STATE

    def instruction(self, mint: Pubkey) -> Instruction:
        state = _ACCOUNT_STATE_FROZEN if self.frozen else _ACCOUNT_STATE_INITIALIZED
        data = bytes([_DEFAULT_ACCOUNT_STATE_EXTENSION, _EXTENSION_INITIALIZE, state])
        return _mint_ix(data, mint)


@dataclass(frozen=True)
class MintCloseAuthority(MintExtension):
    """`authority` may close the mint once its supply is zero."""

    authority: Pubkey
    extension_type = ExtensionType.MINT_CLOSE_AUTHORITY

    def instruction(self, mint: Pubkey) -> Instruction:
        data = bytes([_INITIALIZE_MINT_CLOSE_AUTHORITY]) + _coption_key(self.authority)
        return _mint_ix(data, mint)


@dataclass(frozen=True)
class Pausable(MintExtension):
    """`authority` may pause every mint, burn and transfer of the mint."""

    authority: Pubkey
    extension_type = ExtensionType.PAUSABLE

    def instruction(self, mint: Pubkey) -> Instruction:
        data = bytes([_PAUSABLE_EXTENSION, _EXTENSION_INITIALIZE]) + bytes(self.authority)
        return _mint_ix(data, mint)


# ---- sending --------------------------------------------------------------------------

_nonce = itertools.count(1)


def send_instructions(
    target: ChainLike,
    payer: Keypair,
    instructions: Sequence[Instruction],
    *,
    signers: Sequence[Keypair] = (),
    what: str = "transaction",
) -> ExecutionOutcome:
    """Sign `instructions` (payer pays) with the latest blockhash, execute, raise on failure."""
    chain = _chain(target)
    all_signers = [payer, *(s for s in signers if s.pubkey() != payer.pubkey())]
    blockhash, _ = chain.latest_blockhash("processed")
    ixs = list(instructions)
    message = Message.new_with_blockhash(ixs, payer.pubkey(), blockhash)
    tx = VersionedTransaction(message, all_signers)
    if chain.transaction(tx.signatures[0]) is not None:
        # The same instructions twice in one slot would be the same transaction (and
        # refused as already processed); a distinct CU limit makes this one new.
        nonce = set_compute_unit_limit(1_000_000 + next(_nonce) % 400_000)
        message = Message.new_with_blockhash([nonce, *ixs], payer.pubkey(), blockhash)
        tx = VersionedTransaction(message, all_signers)
    outcome = chain.execute(tx)
    if outcome.err is not None or outcome.record is None:
        raise FixtureTransactionError(what, outcome)
    return outcome


def airdrop(target: ChainLike, pubkey: Pubkey, lamports: int) -> ExecutionOutcome:
    """Fund `pubkey` from the faucet; raises if the transfer did not land."""
    outcome = _chain(target).airdrop(pubkey, lamports)
    if outcome.err is not None or outcome.record is None:
        raise FixtureTransactionError(f"airdrop to {pubkey}", outcome)
    return outcome


# ---- mints and accounts ---------------------------------------------------------------


def create_mint(
    target: ChainLike,
    payer: Keypair,
    *,
    decimals: int = 6,
    program: Pubkey = TOKEN_PROGRAM,
    mint_authority: Pubkey | None = None,
    freeze_authority: Pubkey | None = None,
    extensions: Sequence[MintExtension] = (),
    mint_keypair: Keypair | None = None,
) -> Pubkey:
    """Create and initialise a mint in one transaction; returns its address.

    The mint authority defaults to the payer. Extensions need Token-2022; the account is
    created with exactly the space and rent the extensions require, each extension is
    initialised, then InitializeMint2 seals the mint.
    """
    if program not in TOKEN_PROGRAMS:
        raise ValueError(f"{program} is not a token program")
    if extensions and program != TOKEN_2022_PROGRAM:
        raise ValueError("mint extensions need the Token-2022 program")
    chain = _chain(target)
    mint = mint_keypair or Keypair()
    space = (
        account_len_with_extensions([EXTENSION_SIZES[e.extension_type] for e in extensions])
        if extensions
        else MINT_LEN
    )
    authority = mint_authority or payer.pubkey()
    init_mint = Instruction(
        program,
        bytes([_INITIALIZE_MINT2, decimals]) + bytes(authority) + _coption_key(freeze_authority),
        [AccountMeta(mint.pubkey(), False, True)],
    )
    instructions = [
        create_account(
            CreateAccountParams(
                from_pubkey=payer.pubkey(),
                to_pubkey=mint.pubkey(),
                lamports=chain.minimum_balance_for_rent_exemption(space),
                space=space,
                owner=program,
            )
        ),
        *(extension.instruction(mint.pubkey()) for extension in extensions),
        init_mint,
    ]
    send_instructions(chain, payer, instructions, signers=[mint], what="create_mint")
    return mint.pubkey()


def token_program_of(target: ChainLike, mint: Pubkey) -> Pubkey:
    """The token program that owns `mint`."""
    account = _chain(target).get_account(mint)
    if account is None or account.owner not in TOKEN_PROGRAMS:
        raise ValueError(f"{mint} is not a mint of a token program")
    return account.owner


def associated_token_address(
    owner: Pubkey, mint: Pubkey, program: Pubkey = TOKEN_PROGRAM
) -> Pubkey:
    return get_associated_token_address(owner, mint, token_program_id=program)


def create_token_account(
    target: ChainLike,
    payer: Keypair,
    mint: Pubkey,
    owner: Pubkey,
    *,
    program: Pubkey | None = None,
) -> Pubkey:
    """Create `owner`'s associated token account for `mint` (idempotent); returns its address.

    `program` defaults to the mint's owner, so Token-2022 mints get Token-2022 accounts
    with the extensions their mint requires (the ATA program asks the token program).
    """
    program = program or token_program_of(target, mint)
    ix = create_idempotent_associated_token_account(
        payer.pubkey(), owner, mint, token_program_id=program
    )
    send_instructions(target, payer, [ix], what="create_token_account")
    return associated_token_address(owner, mint, program)


def mint_to(
    target: ChainLike,
    payer: Keypair,
    mint: Pubkey,
    destination: Pubkey,
    amount: int,
    *,
    authority: Keypair | None = None,
) -> ExecutionOutcome:
    """Mint `amount` base units into the token account `destination`.

    The mint authority signs; it defaults to the payer (create_mint's default authority).
    """
    signer = authority or payer
    ix = Instruction(
        token_program_of(target, mint),
        struct.pack("<BQ", _MINT_TO, amount),
        [
            AccountMeta(mint, False, True),
            AccountMeta(destination, False, True),
            AccountMeta(signer.pubkey(), True, False),
        ],
    )
    return send_instructions(target, payer, [ix], signers=[signer], what="mint_to")


def transfer(
    target: ChainLike,
    payer: Keypair,
    source: Pubkey,
    destination: Pubkey,
    amount: int,
    *,
    owner: Keypair | None = None,
) -> ExecutionOutcome:
    """TransferChecked `amount` from token account `source` (signed by `owner`, default payer)."""
    chain = _chain(target)
    state = _token_account(chain, source)
    mint_account = chain.get_account(state.mint)
    mint_state = unpack_mint(bytes(mint_account.data)) if mint_account else None
    if mint_account is None or mint_state is None:
        raise ValueError(f"mint {state.mint} of {source} is not readable")
    signer = owner or payer
    ix = Instruction(
        mint_account.owner,
        struct.pack("<BQB", _TRANSFER_CHECKED, amount, mint_state.decimals),
        [
            AccountMeta(source, False, True),
            AccountMeta(state.mint, False, False),
            AccountMeta(destination, False, True),
            AccountMeta(signer.pubkey(), True, False),
        ],
    )
    return send_instructions(chain, payer, [ix], signers=[signer], what="transfer")


def approve(
    target: ChainLike,
    payer: Keypair,
    account: Pubkey,
    delegate: Pubkey,
    amount: int,
    *,
    owner: Keypair | None = None,
) -> ExecutionOutcome:
    """Let `delegate` move up to `amount` from token account `account`."""
    chain = _chain(target)
    program = _owner_program(chain, account)
    signer = owner or payer
    ix = Instruction(
        program,
        struct.pack("<BQ", _APPROVE, amount),
        [
            AccountMeta(account, False, True),
            AccountMeta(delegate, False, False),
            AccountMeta(signer.pubkey(), True, False),
        ],
    )
    return send_instructions(chain, payer, [ix], signers=[signer], what="approve")


def token_balance(target: ChainLike, account: Pubkey) -> int:
    """Raw token amount held by the token account `account`."""
    return _token_account(_chain(target), account).amount


def _owner_program(chain: Chain, account: Pubkey) -> Pubkey:
    found = chain.get_account(account)
    if found is None or found.owner not in TOKEN_PROGRAMS:
        raise ValueError(f"{account} is not a token account")
    return found.owner


def _token_account(chain: Chain, account: Pubkey) -> Any:
    _owner_program(chain, account)
    found = chain.get_account(account)
    state = unpack_token_account(bytes(found.data)) if found is not None else None
    if state is None:
        raise ValueError(f"{account} is not an initialized token account")
    return state
