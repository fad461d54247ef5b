"""Rules for user accounts."""

from __future__ import annotations

import re

from csms.errors import ValidationFailed

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
PASSWORD_MIN = 8
PASSWORD_MAX = 256
ROLES = ("driver", "operator")


def check_email(value: object) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValidationFailed("email must be an email address")
    return value


def check_password(value: object) -> str:
    if not isinstance(value, str) or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValidationFailed(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    return value


def check_name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise ValidationFailed("name must be 1-200 characters")
    return value
