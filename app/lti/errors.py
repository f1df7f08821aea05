"""Every way a launch can fail, as a status code and a sentence a person can act on."""

from __future__ import annotations

import jwt
from pylti1p3.exception import LtiException, OIDCException

UNKNOWN_PLATFORM = 403
ALREADY_USED = "this launch was already used: start the activity again from your course"


class LaunchRefused(LtiException):
    """A launch or login this tool refuses, with the status code and message to show."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


#: pylti1p3's own messages (it raises plain LtiException/OIDCException) and what they mean here.
_KNOWN = {
    "Missing id_token": (400, "the launch carried no id_token: start the activity from your course"),
    "Missing state param": (400, "the launch carried no state: start the activity from your course"),
    "State not found": (400, "this launch did not start here (its state is unknown): start it again from your course"),
    "Could not find issuer": (400, "the login request names no issuer (iss)"),
    "Could not find login hint": (400, "the login request has no login_hint"),
    "Invalid Nonce": (403, ALREADY_USED),
    '"nonce" is empty': (400, "the launch token has no nonce"),
    "JWT KID not found": (401, "the launch token names no signing key (kid)"),
    "Unable to find public key": (401, "the launch token's signing key is not in the platform's key set"),
    "Unrecognized message type": (400, "this kind of LTI message is not supported (only resource link launches)"),
    "Missing Resource Link Id": (400, "the launch token has no resource link id"),
}


def explain(exc: Exception) -> tuple[int, str]:
    """(status code, message) for a failed OIDC login or launch."""
    if isinstance(exc, LaunchRefused):
        return exc.status_code, exc.message
    cause = exc.__cause__
    if isinstance(cause, jwt.ExpiredSignatureError):
        return 401, "the launch token has expired: start the activity again from your course"
    if isinstance(cause, jwt.InvalidSignatureError):
        return 401, "the launch token's signature does not match the platform's keys"
    if isinstance(cause, jwt.ImmatureSignatureError):
        return 401, "the launch token is not valid yet (issued in the future): check the platform's clock"
    if isinstance(cause, jwt.InvalidTokenError):
        return 401, f"the launch token is not valid: {cause}"
    text = str(exc)
    if text in _KNOWN:
        return _KNOWN[text]
    if text.startswith("Error during fetch URL") or text.startswith("Invalid response from"):
        return 502, "the platform's key set could not be fetched; try again, or check its key set URL"
    if isinstance(exc, (LtiException, OIDCException)):
        return 400, f"the launch was refused: {text}"
    raise exc
