"""Reading and changing the class settings (one row, created with defaults on first use)."""

from __future__ import annotations

import hmac

from sqlalchemy import func
from sqlalchemy.orm import Session

from app.classroom.models import ClassSettings
from app.errors import WebError
from app.research.instruments import MODES as INSTRUMENT_MODES
from app.settings import Settings
from engine.datasets import FAMILIES, playable_families

SETTINGS_ID = 1
#: Families a class may play, and the ones a new class starts with: those whose calibration meets
#: the "worth playing" targets (docs/calibration.md).
PLAYABLE_FAMILIES = playable_families()
MAX_POOL_SIZE = 200
CLASS_CODE_MAX = 64


def class_settings(db: Session, settings: Settings, class_id: int = SETTINGS_ID) -> ClassSettings:
    """The settings row of class ``class_id`` (default: the class of the ID-and-name login).

    The default class's row is created from the deployment's defaults on first use; the others
    (one per LMS course) are created at the course's first launch (app.lti.launch).
    """
    row = db.get(ClassSettings, class_id)
    if row is None and class_id == SETTINGS_ID:
        row = ClassSettings(id=SETTINGS_ID, class_code=None, pool_size=settings.pool_size,
                            allowed_families=list(PLAYABLE_FAMILIES), reveal_test_accuracy=False)
        db.add(row)
        db.flush()
    if row is None:
        raise WebError(f"there is no class {class_id}", 404)
    return row


def class_id_of(member) -> int:
    """The class a Student or StaffAccount belongs to (None in the column: the default class)."""
    return getattr(member, "class_id", None) or SETTINGS_ID


def class_of(db: Session, member, settings: Settings) -> ClassSettings:
    """The settings of the class a player or staff member belongs to."""
    return class_settings(db, settings, class_id_of(member))


def visible_to(staff, student) -> bool:
    """An instructor sees the players of their own class only (bots belong to no class)."""
    return student.is_bot or class_id_of(student) == class_id_of(staff)


def in_class(column, class_id: int):
    """SQL condition: a nullable class column (Student.class_id, StaffAccount.class_id) means ``class_id``."""
    return func.coalesce(column, SETTINGS_ID) == class_id


def allowed_families(row: ClassSettings) -> list[str]:
    """The families new datasets may come from: the chosen playable ones, else every playable one."""
    # A family chosen before it stopped being playable (teacher) is dropped here, not in the row,
    # so the instructor's choice is still on record.
    chosen = sorted(f for f in row.allowed_families or [] if f in PLAYABLE_FAMILIES)
    return chosen or list(PLAYABLE_FAMILIES)


def class_code_matches(row: ClassSettings, given: str) -> bool:
    """True when no code is required or ``given`` is the code (constant-time comparison)."""
    if not row.class_code:
        return True
    return hmac.compare_digest(row.class_code.strip().lower().encode(), given.strip().lower().encode())


def update_from_form(row: ClassSettings, form: dict[str, object]) -> None:
    """Apply the settings form; WebError (422) with the reason for any bad field."""
    code = str(form.get("class_code", "")).strip()
    if len(code) > CLASS_CODE_MAX or (code and not code.replace("-", "").replace("_", "").isalnum()):
        raise WebError(f"the class code must be at most {CLASS_CODE_MAX} letters, digits, dashes or underscores", 422)
    try:
        pool_size = int(str(form.get("pool_size", "")))
    except ValueError:
        raise WebError("the pool size must be a whole number", 422) from None
    if not 1 <= pool_size <= MAX_POOL_SIZE:
        raise WebError(f"the pool size must be between 1 and {MAX_POOL_SIZE}", 422)
    families = form.get("families", [])
    families = [str(f) for f in (families if isinstance(families, list) else [families])]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise WebError(f"unknown dataset families: {', '.join(unknown)}", 422)
    retired = [f for f in families if f not in PLAYABLE_FAMILIES]
    if retired:
        raise WebError(f"not offered to classes (it misses the calibration targets): {', '.join(retired)}", 422)
    reveal = str(form.get("reveal_test_accuracy", "")) in ("on", "true", "1", "yes")
    modes = {name: _instrument_mode(form, name, getattr(row, name)) for name in INSTRUMENTS}
    exact_times = str(form.get("allow_exact_times", "")) in ("on", "true", "1", "yes")
    abandon_after = _abandon_minutes(form, row.abandon_after_minutes)
    row.class_code = code or None
    row.pool_size = pool_size
    row.allowed_families = sorted(set(families))
    row.reveal_test_accuracy = reveal
    for name, mode in modes.items():
        setattr(row, name, mode)
    row.allow_exact_times = exact_times
    row.abandon_after_minutes = abandon_after


#: Longest idle timeout an instructor may set (a week, in minutes).
MAX_ABANDON_MINUTES = 7 * 24 * 60


def _abandon_minutes(form: dict[str, object], current: int | None) -> int:
    """Minutes without an action before a run is abandoned; a form without the field keeps the current value."""
    raw = form.get("abandon_after_minutes")
    if raw is None or str(raw).strip() == "":
        return current if current is not None else 120
    try:
        minutes = int(str(raw).strip())
    except ValueError:
        raise WebError("the idle time before a run is abandoned must be a whole number of minutes", 422) from None
    if not 0 <= minutes <= MAX_ABANDON_MINUTES:
        raise WebError(f"the idle time before a run is abandoned must be between 0 and {MAX_ABANDON_MINUTES} minutes", 422)
    return minutes


#: The per-action research instruments the settings form sets (ClassSettings columns).
INSTRUMENTS = {"predictions": "predictions", "reasons": "reason chips"}


def _instrument_mode(form: dict[str, object], name: str, current: str) -> str:
    """An instrument's mode from the form; a form without the field keeps the current mode."""
    raw = form.get(name)
    if raw is None or str(raw) == "":
        return current or INSTRUMENT_MODES[0]
    if str(raw) not in INSTRUMENT_MODES:
        raise WebError(f"the {INSTRUMENTS[name]} mode must be one of {', '.join(INSTRUMENT_MODES)}", 422)
    return str(raw)
