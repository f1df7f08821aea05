"""Scenario links: instructors create them, players follow them."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
