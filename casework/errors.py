"""Casework's exception tree; the API renders each as ``{"error": reason}`` with its status.

CaseworkError
 ├── BadInput      400  the request is malformed; nothing was written
 ├── Unauthorized  401  no valid login
 ├── Forbidden     403  the role may not do this
 ├── NotFound      404  no such thing, or not in the user's teams (same answer on purpose)
 └── Conflict      409  someone else got there first (a claim, a resolve)
"""

from __future__ import annotations


class CaseworkError(Exception):
    status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadInput(CaseworkError):
    status = 400


class Unauthorized(CaseworkError):
    status = 401


class Forbidden(CaseworkError):
    status = 403


class NotFound(CaseworkError):
    status = 404


class Conflict(CaseworkError):
    status = 409
