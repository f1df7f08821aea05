"""Pages of a study: the consent screen, and the researcher's study settings."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
