"""Anchor's framework error codes, defined once for every Anchor program.

An Anchor program fails with `Custom(n)`: codes below 6000 are the framework's own
(account constraints, discriminators, deserialization), 6000 and up are the program's
IDL `errors`. The localnet's program models raise these; the simulation decoder names them.

Source: coral-xyz/anchor lang/src/error.rs (`ErrorCode`); numbers are stable across versions.
"""

from __future__ import annotations

# The first code of a program's own (IDL) errors.
ERROR_CODE_OFFSET = 6000

# name -> (number, message), exactly as Anchor logs them.
ANCHOR_ERRORS: dict[str, tuple[int, str]] = {
    "InstructionMissing": (100, "8 byte instruction identifier not provided"),
    "InstructionFallbackNotFound": (101, "Fallback functions are not supported"),
    "InstructionDidNotDeserialize": (
        102,
        "The program could not deserialize the given instruction",
    ),
    "InstructionDidNotSerialize": (103, "The program could not serialize the given instruction"),
    "IdlInstructionStub": (1000, "The program was compiled without idl instructions"),
    "IdlInstructionInvalidProgram": (1001, "Invalid program given to the IDL instruction"),
    "ConstraintMut": (2000, "A mut constraint was violated"),
    "ConstraintHasOne": (2001, "A has one constraint was violated"),
    "ConstraintSigner": (2002, "A signer constraint was violated"),
    "ConstraintRaw": (2003, "A raw constraint was violated"),
    "ConstraintOwner": (2004, "An owner constraint was violated"),
    "ConstraintRentExempt": (2005, "A rent exemption constraint was violated"),
    "ConstraintSeeds": (2006, "A seeds constraint was violated"),
    "ConstraintExecutable": (2007, "An executable constraint was violated"),
    "ConstraintState": (2008, "A state constraint was violated"),
    "ConstraintAssociated": (2009, "An associated constraint was violated"),
    "ConstraintAssociatedInit": (2010, "An associated init constraint was violated"),
    "ConstraintClose": (2011, "A close constraint was violated"),
    "ConstraintAddress": (2012, "An address constraint was violated"),
    "ConstraintZero": (2013, "Expected zero account discriminant"),
    "ConstraintTokenMint": (2014, "A token mint constraint was violated"),
    "ConstraintTokenOwner": (2015, "A token owner constraint was violated"),
    "ConstraintMintMintAuthority": (2016, "A mint mint authority constraint was violated"),
    "ConstraintMintFreezeAuthority": (2017, "A mint freeze authority constraint was violated"),
    "ConstraintMintDecimals": (2018, "A mint decimals constraint was violated"),
    "ConstraintSpace": (2019, "A space constraint was violated"),
    "AccountDiscriminatorAlreadySet": (
        3000,
        "The account discriminator was already set on this account",
    ),
    "AccountDiscriminatorNotFound": (3001, "No 8 byte discriminator was found on the account"),
    "AccountDiscriminatorMismatch": (3002, "8 byte discriminator did not match what was expected"),
    "AccountDidNotDeserialize": (3003, "Failed to deserialize the account"),
    "AccountDidNotSerialize": (3004, "Failed to serialize the account"),
    "AccountNotEnoughKeys": (3005, "Not enough account keys given to the instruction"),
    "AccountNotMutable": (3006, "The given account is not mutable"),
    "AccountOwnedByWrongProgram": (
        3007,
        "The given account is owned by a different program than expected",
    ),
    "InvalidProgramId": (3008, "Program ID was not as expected"),
    "InvalidProgramExecutable": (3009, "Program account is not executable"),
    "AccountNotSigner": (3010, "The given account did not sign"),
    "AccountNotSystemOwned": (3011, "The given account is not owned by the system program"),
    "AccountNotInitialized": (3012, "The program expected this account to be already initialized"),
    "AccountNotProgramData": (3013, "The given account is not a program data account"),
    "AccountNotAssociatedTokenAccount": (
        3014,
        "The given account is not the associated token account",
    ),
    "AccountSysvarMismatch": (3015, "The given public key does not match the required sysvar"),
    "StateInvalidAddress": (4000, "The given state account does not have the correct address"),
    "DeclaredProgramIdMismatch": (
        4100,
        "The declared program id does not match the actual program id",
    ),
    "Deprecated": (5000, "The API being used is deprecated and should no longer be used"),
}

# number -> (name, message), for decoding `Custom(n)`.
ANCHOR_ERRORS_BY_CODE: dict[int, tuple[str, str]] = {
    number: (name, message) for name, (number, message) in ANCHOR_ERRORS.items()
}
