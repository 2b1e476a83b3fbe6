from decimal import Decimal

from invoice import Line, invoice_total, line_total


def test_line_total():
    assert line_total(Line("pens", Decimal("1.25"), 4)) == Decimal("5.00")


def test_single_line_no_discount():
    lines = [Line("book", Decimal("10.00"))]
    assert invoice_total(lines, Decimal("0.20")) == Decimal("12.00")


def test_discount_is_taken_before_tax():
    lines = [Line("book", Decimal("10.00"))]
    # (10.00 - 2.00) * 1.20 = 9.60
    assert invoice_total(lines, Decimal("0.20"), Decimal("2.00")) == Decimal("9.60")
