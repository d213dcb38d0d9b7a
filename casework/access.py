"""Who may do what: one table of permissions per role, and the team rule for cases.

Every route asks here (through :class:`casework.desk.Desk` or
:class:`casework.accounts.Accounts`), so the rules live in one place and the
authorization matrix test can read them. Admins manage accounts but do not read
children's conversations; supervisors see and act on their own teams' cases.
"""

from __future__ import annotations

from casework.model import Case, User

PERMISSIONS: dict[str, frozenset[str]] = {
    "case.read": frozenset({"case_worker", "probation_officer", "supervisor"}),
    "case.claim": frozenset({"case_worker", "supervisor"}),
    "case.reply": frozenset({"case_worker", "supervisor"}),
    "case.note": frozenset({"case_worker", "probation_officer", "supervisor"}),
    "case.refer": frozenset({"case_worker", "probation_officer", "supervisor"}),
    "case.transfer": frozenset({"case_worker", "supervisor"}),
    "case.resolve": frozenset({"case_worker", "supervisor"}),
    "case.export": frozenset({"supervisor"}),
    "dashboard.read": frozenset({"supervisor"}),
    "audit.read": frozenset({"supervisor", "admin"}),
    "users.manage": frozenset({"admin"}),
    # probation check-ins (casework/probation): officers manage their own enrolments, supervisors their teams'
    "probation.manage": frozenset({"probation_officer", "supervisor"}),
    "probation.export": frozenset({"probation_officer", "supervisor"}),
}

# Acting on a case someone else holds needs this role (or being the holder).
OVERRIDE_ROLE = "supervisor"


def allowed(user: User, permission: str) -> bool:
    return user.role in PERMISSIONS.get(permission, frozenset())


def in_teams(user: User, case: Case) -> bool:
    return case.team in user.teams


def holds(user: User, case: Case) -> bool:
    """The user holds the case, or is a supervisor of its team."""
    return case.assignee == user.username or user.role == OVERRIDE_ROLE
