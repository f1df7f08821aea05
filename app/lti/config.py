"""pylti1p3's tool configuration, read from the database: platforms, deployments and the tool's key."""

from __future__ import annotations

from pylti1p3.actions import Action
from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.lti.errors import UNKNOWN_PLATFORM, LaunchRefused
from app.lti.keys import public_pem, tool_key
from app.lti.models import LtiPlatform


class PlatformRegistration(Registration):
    """A pylti1p3 registration that remembers its row."""

    def __init__(self, platform: LtiPlatform) -> None:
        self.platform_id = platform.id


def registration_of(db: Session, platform: LtiPlatform) -> PlatformRegistration:
    """The pylti1p3 registration for ``platform``, signed with the tool's key."""
    key = tool_key(db)
    registration = PlatformRegistration(platform)
    (registration.set_issuer(platform.issuer).set_client_id(platform.client_id)
     .set_auth_login_url(platform.auth_login_url).set_auth_token_url(platform.auth_token_url)
     .set_key_set_url(platform.key_set_url).set_tool_private_key(key.private_key_pem)
     .set_tool_public_key(public_pem(key)))
    return registration


class DatabaseToolConf(ToolConfAbstract):
    """Registrations looked up by issuer and client ID in ``lti_platforms`` (several clients per issuer allowed)."""

    def __init__(self, db: Session) -> None:
        self.db = db
        # Per instance, not the class-level dict pylti1p3 declares (which every instance would share).
        self.issuers_relation_types = {}

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def _platforms(self, iss: str) -> list[LtiPlatform]:
        found = list(self.db.scalars(select(LtiPlatform).where(LtiPlatform.issuer == iss).order_by(LtiPlatform.id)))
        if not found:
            raise LaunchRefused(f"unknown platform: the issuer {str(iss)[:200]!r} is not registered with HyperQuest "
                                "(an instructor registers it on the LTI page)", UNKNOWN_PLATFORM)
        return found

    def find_registration_by_issuer(self, iss: str, *args, **kwargs) -> Registration:
        """The issuer's registration when it has exactly one client ID."""
        return self.find_registration_by_params(iss, None, *args, **kwargs)

    def find_registration_by_params(self, iss: str, client_id: str | None, *args, **kwargs) -> Registration:
        """The registration of (issuer, client ID); a launch must name a registered client ID as its audience."""
        found = self._platforms(iss)
        launch = kwargs.get("action") == Action.MESSAGE_LAUNCH
        if client_id is None and not launch:
            if len(found) > 1:
                raise LaunchRefused("this issuer is registered with several client IDs: the login request must "
                                    "say which (client_id)", 400)
            return registration_of(self.db, found[0])
        for platform in found:
            if platform.client_id == client_id:
                return registration_of(self.db, platform)
        if launch:
            raise LaunchRefused(f"wrong audience: the launch token is for client ID {str(client_id)[:200]!r}, which is "
                                "not registered for this platform", 401)
        raise LaunchRefused(f"unknown platform: client ID {str(client_id)[:200]!r} is not registered for this issuer",
                            UNKNOWN_PLATFORM)

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        """The deployment, when the issuer has one registration that lists it."""
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str | None,
                                  *args, **kwargs) -> Deployment | None:
        """The deployment when the (issuer, client ID) registration lists it; refused otherwise."""
        for platform in self._platforms(iss):
            if (client_id is None or platform.client_id == client_id) and deployment_id in platform.deployment_ids:
                return Deployment().set_deployment_id(deployment_id)
        raise LaunchRefused(f"unknown deployment: {str(deployment_id)[:200]!r} is not a registered deployment of this "
                            "platform", UNKNOWN_PLATFORM)
