"""The one error type the domain raises; the web layer turns it into JSON or an error frame."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 400

    def __init__(self, code: str, message: str, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def not_found(what: str = "That") -> AppError:
    return AppError("not_found", f"{what} could not be found.", 404)


def forbidden(message: str = "You don't have permission to do that.") -> AppError:
    return AppError("forbidden", message, 403)


def invalid(message: str, **extra: Any) -> AppError:
    return AppError("invalid", message, 422, **extra)


def unauthenticated() -> AppError:
    return AppError("unauthenticated", "Please sign in to continue.", 401)
