"""The tool's RSA key pair: made once on first use, kept in the database, served as a JWKS."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pylti1p3.registration import Registration
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.lti.models import LtiToolKey

#: The one key's row id: two processes making it at once collide on the primary key, and both keep the first.
KEY_ID = 1
#: The public JWK members a JWKS may carry; anything else (d, p, q, dp, dq, qi) is private.
PUBLIC_MEMBERS = ("kty", "kid", "alg", "use", "n", "e")


def tool_key(db: Session) -> LtiToolKey:
    """The tool's key, generated (and committed) on the first call; never regenerated afterwards."""
    key = db.get(LtiToolKey, KEY_ID)
    if key is not None:
        return key
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    # pylti1p3 names the key by its RFC 7638 thumbprint when it signs service tokens; the JWKS must agree.
    jwk = {k: v for k, v in Registration.get_jwk(public_pem).items() if k in PUBLIC_MEMBERS}
    key = LtiToolKey(id=KEY_ID, kid=jwk["kid"], private_key_pem=private_pem, public_jwk=jwk)
    db.add(key)
    try:
        db.commit()
    except IntegrityError:  # another process made it first: theirs is the key
        db.rollback()
        key = db.get(LtiToolKey, KEY_ID)
    return key


def public_pem(key: LtiToolKey) -> str:
    """The public half of ``key`` in PEM (what pylti1p3's Registration takes)."""
    private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def jwks(db: Session) -> dict:
    """The tool's key set: public members only."""
    keys = db.scalars(select(LtiToolKey).order_by(LtiToolKey.id)).all() or [tool_key(db)]
    return {"keys": [{k: v for k, v in key.public_jwk.items() if k in PUBLIC_MEMBERS} for key in keys]}
