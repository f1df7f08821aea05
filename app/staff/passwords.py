"""Password hashing for staff accounts: scrypt (memory-hard, in the standard library)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# scrypt cost: 16 MiB of memory and ~50 ms per check; stored with each hash so it can be raised later.
N, R, P = 2**14, 8, 1
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form ``scrypt$N$r$p$salt$hash`` (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                   dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def dummy_check(password: str) -> None:
    """Spend the time a real check takes, so a wrong username is not faster than a wrong password."""
    verify_password(password, _DUMMY)


_DUMMY = hash_password(secrets.token_hex(8))
