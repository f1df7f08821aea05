"""The leaderboard page."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.classroom.service import class_id_of
from app.db.base import utcnow
from app.leaderboard.service import overall, overall_margin, per_dataset
from app.staff.service import current_staff
from app.web import DbSession, current_student, render

router = APIRouter()


@router.get("/leaderboard")
def leaderboard(request: Request, db: DbSession):
    """Overall standings and one table per dataset, players beside the baseline."""
    student, staff = current_student(request, db), current_staff(request, db)
    # Each class (the default one, or an LMS course) has its own boards: the viewer's class.
    class_id = class_id_of(student or staff)
    boards = per_dataset(db, class_id=class_id)
    context = {"student": student, "staff": staff, "overall": overall(db, class_id, boards), "boards": boards,
               "overall_margin": overall_margin(boards), "computed_at": utcnow()}
    return render(request, "leaderboard.html", context)
