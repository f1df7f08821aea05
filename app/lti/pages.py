"""LTI endpoints: OIDC login initiation, launch, the tool's key set and the registration page."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
