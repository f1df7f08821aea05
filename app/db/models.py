"""Imports every domain's models so Base.metadata knows all tables (for Alembic)."""

from app.accounts.models import Student, SurveyResponse  # noqa: F401
from app.classroom.models import ClassSettings  # noqa: F401
from app.classview.models import InstructorMessage  # noqa: F401
from app.datasets.models import DatasetRecord, ReferenceFork  # noqa: F401
from app.db.base import Base  # noqa: F401
from app.debrief.models import BranchRecord  # noqa: F401
from app.grades.models import GradePost  # noqa: F401
from app.jobs.models import Job  # noqa: F401
from app.lti.models import LtiContext, LtiIdentity, LtiNonce, LtiPlatform, LtiToolKey  # noqa: F401
from app.research.models import Assignment  # noqa: F401
from app.runs.models import ActionRecord, CheckpointRecord, EpochRecord, Run  # noqa: F401
from app.scenarios.models import Scenario  # noqa: F401
from app.security.models import WebSession  # noqa: F401
from app.staff.models import StaffAccount  # noqa: F401
