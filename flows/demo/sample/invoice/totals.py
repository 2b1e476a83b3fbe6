"""Invoice arithmetic."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass
class Line:
    description: str
    unit_price: Decimal
    quantity: int = 1


def line_total(line: Line) -> Decimal:
    """Price of one line before tax and discount."""
    return line.unit_price * line.quantity


def invoice_total(lines: list[Line], tax_rate: Decimal, discount: Decimal = Decimal("0")) -> Decimal:
    """Total due: the discount comes off the subtotal, then tax is added, rounded once."""
    total = Decimal("0")
    for line in lines:
        total += (line_total(line) * (1 + tax_rate)).quantize(CENT, ROUND_HALF_UP)
    return total - discount
