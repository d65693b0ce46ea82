from __future__ import annotations

import math

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

DASH = "–"


@register.filter
def pct(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{int(digits)}f}%"


@register.filter
def num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return DASH
    if math.isinf(value):
        return "∞"
    return f"{value:.{int(digits)}f}"


@register.filter
def interval(value) -> str:
    """A Wilson interval as "[low, high]" in percent."""
    return "" if value is None else f"[{value.low * 100:.1f}, {value.high * 100:.1f}]"


@register.filter
def ci(value, digits: int = 3) -> str:
    """An interval on the statistic's own scale, as "[low, high]"."""
    return "" if value is None else f"[{value.low:.{int(digits)}f}, {value.high:.{int(digits)}f}]"


@register.filter
def pvalue(value: float | None) -> str:
    if value is None or value == "":  # "": a missing attribute in the template (no test to show)
        return DASH
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


@register.filter
def index(sequence, i: int):
    return sequence[i]


@register.filter
def lookup(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def signed_pct(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value * 100:+.{int(digits)}f} pts"


@register.filter
def signed_ci(value) -> str:
    """An interval of a difference of shares, in percentage points."""
    return "" if value is None else f"[{value.low * 100:+.1f}, {value.high * 100:+.1f}]"


@register.filter
def index_or_none(sequence, i: int):
    return sequence[i] if sequence and i < len(sequence) else None


@register.filter
def metric_name(value: str):
    """A metric's name as shown: "D_r" with its subscript."""
    return mark_safe(escape(value).replace("D_r", "D<sub>r</sub>"))  # noqa: S308 - escaped above
