"""A tiny invoicing library."""

from .totals import Line, invoice_total, line_total

__all__ = ["Line", "invoice_total", "line_total"]
