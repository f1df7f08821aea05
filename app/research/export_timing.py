"""Times in the export: seconds on each player's own clock, never wall-clock time by default.

An exact timestamp can re-identify a pseudonym to anyone who saw the class play ("who was at the
lab at 14:02?"). So every time of a player is exported as seconds since that player's first
action (their t0), optionally with the day index since t0's UTC date; exact times are exported
only when the researcher asks and the class settings allow it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.db.base import as_utc
from app.runs.models import ActionRecord, Run

RELATIVE, EXACT = "relative", "exact"


class ExactTimesRefused(ValueError):
    """Exact times were requested but the class settings do not allow them."""


@dataclasses.dataclass(frozen=True)
class TimeOptions:
    """What the researcher asked for: the session day, and exact timestamps beside the relative times."""

    session_day: bool = False
    exact: bool = False

    @property
    def mode(self) -> str:
        """``exact`` or ``relative`` (recorded in the manifest)."""
        return EXACT if self.exact else RELATIVE


def check_allowed(options: TimeOptions, allow_exact_times: bool) -> None:
    """Raise ExactTimesRefused when exact times are asked for but not allowed."""
    if options.exact and not allow_exact_times:
        raise ExactTimesRefused("exact times are not allowed in this class: the instructor's class settings must "
                                "allow exact times first")


def timestamp(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")


class Clocks:
    """Every player's t0, and which player's clock each run counts on."""

    def __init__(self, db: Session, options: TimeOptions) -> None:
        self.options = options
        runs = {run_id: (owner, parent) for run_id, owner, parent in db.execute(select(Run.id, Run.student_pk, Run.parent_run_id))}
        #: A debrief branch counts on its root run's player's clock: on the automatic player's own
        #: clock its times would say when the human's run ended.
        self.owner_of_run = {run_id: self._root_owner(run_id, runs) for run_id in runs}
        first_action = db.execute(select(ActionRecord.run_id, func.min(ActionRecord.created_at)).group_by(ActionRecord.run_id))
        self.t0: dict[int, dt.datetime] = {}
        for run_id, first in first_action:
            owner = self.owner_of_run.get(run_id)
            if owner is not None and first is not None:
                first = as_utc(first)
                self.t0[owner] = min(self.t0.get(owner, first), first)
        for student_pk, joined in db.execute(select(Student.id, Student.created_at)):
            if student_pk not in self.t0 and joined is not None:
                self.t0[student_pk] = as_utc(joined)

    @staticmethod
    def _root_owner(run_id: int, runs: dict[int, tuple[int, int | None]]) -> int:
        seen = set()
        owner, parent = runs[run_id]
        while parent is not None and parent in runs and parent not in seen:
            seen.add(parent)
            owner, parent = runs[parent]
        return owner

    def seconds(self, student_pk: int, value: dt.datetime | None) -> float | None:
        """Seconds from the player's t0 to ``value`` (null for null)."""
        if value is None or student_pk not in self.t0:
            return None
        return round((as_utc(value) - self.t0[student_pk]).total_seconds(), 6)

    def day(self, student_pk: int, value: dt.datetime | None) -> int | None:
        """Day index of ``value`` since the UTC date of t0, when the session day was asked for."""
        if not self.options.session_day or value is None or student_pk not in self.t0:
            return None
        return (as_utc(value).date() - self.t0[student_pk].date()).days

    def exact(self, value: dt.datetime | None) -> str | None:
        """The exact timestamp, when exact times were asked for (and allowed: checked before building)."""
        return timestamp(value) if self.options.exact else None
