"""Researcher pages (filled in with the export)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
