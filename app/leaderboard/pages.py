"""The leaderboard page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from app.classroom.service import class_id_of
from app.db.base import utcnow
from app.leaderboard.service import MIN_SPREAD, overall, per_dataset
from app.staff.service import current_staff
from app.web import current_student, get_db, render

router = APIRouter()


@router.get("/leaderboard")
def leaderboard(request: Request, db: Session = Depends(get_db, scope="function")):
    """Overall standings and one table per dataset, players beside the baseline."""
    student, staff = current_student(request, db), current_staff(request, db)
    # Each class (the default one, or an LMS course) has its own boards: the viewer's class.
    class_id = class_id_of(student or staff)
    context = {"student": student, "staff": staff, "overall": overall(db, class_id),
               "boards": per_dataset(db, class_id=class_id), "computed_at": utcnow(), "min_spread": MIN_SPREAD}
    return render(request, "leaderboard.html", context)
