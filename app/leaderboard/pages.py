"""The leaderboard page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.leaderboard.service import MIN_SPREAD, overall, per_dataset
from app.staff.service import current_staff
from app.web import current_student, get_db, render

router = APIRouter()


@router.get("/leaderboard")
def leaderboard(request: Request, db: Session = Depends(get_db, scope="function")):
    """Overall standings and one table per dataset, players beside the baseline."""
    context = {"student": current_student(request, db), "staff": current_staff(request, db), "overall": overall(db),
               "boards": per_dataset(db), "computed_at": utcnow(), "min_spread": MIN_SPREAD}
    return render(request, "leaderboard.html", context)
