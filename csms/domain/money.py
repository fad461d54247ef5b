"""Money: exact decimals, rounded once, at the end, to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from csms.errors import ValidationFailed

CENT = Decimal("0.01")
MAX_PRICE = Decimal(10_000)
#: Decimal places a price, fee, power or energy may be written with: more than any JSON number
#: has (the smallest double is 5e-324), far fewer than the 16383 PostgreSQL's numeric holds.
MAX_PLACES = 1000


def check_places(number: Decimal, name: str) -> Decimal:
    """``number`` unless it is written with more than :data:`MAX_PLACES` decimal places."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PLACES:
        raise ValidationFailed(f"{name} may have at most {MAX_PLACES} decimal places")
    return number


def parse_amount(value: object, name: str) -> Decimal:
    """A non-negative price or fee given as a decimal string (or number)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationFailed(f'{name} must be a decimal string such as "0.39"')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f'{name} must be a decimal string such as "0.39"') from None
    if not amount.is_finite() or not Decimal(0) <= amount <= MAX_PRICE:
        raise ValidationFailed(f"{name} must be between 0 and {MAX_PRICE}")
    return check_places(amount, name)


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal) -> str:
    """The API's money form: a decimal string with two places."""
    return str(round_money(amount))


def format_price(amount: Decimal) -> str:
    """A unit price as written back: at least two places, more only if it has them (0.1234)."""
    normal = amount.normalize()
    if normal.as_tuple().exponent >= -2:  # type: ignore[operator]
        return str(amount.quantize(CENT))
    return f"{normal:f}"
