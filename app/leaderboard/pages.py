"""The leaderboard page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from app.leaderboard.service import overall, per_dataset
from app.web import current_student, get_db, render

router = APIRouter()


@router.get("/leaderboard")
def leaderboard(request: Request, db: Session = Depends(get_db)):
    """Overall standings and one table per dataset, players beside the baseline."""
    context = {"student": current_student(request, db), "overall": overall(db), "boards": per_dataset(db)}
    return render(request, "leaderboard.html", context)
