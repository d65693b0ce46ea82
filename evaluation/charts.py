"""Server-side SVG bar chart of the label fractions per scheme with their intervals (no JavaScript)."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .reports import SchemeRow

COLOURS = ("#8a94a6", "#5b8def", "#f0a500", "#c0392b", "#2e9e6a", "#7a4fbf")


def fraction_chart(rows: list[SchemeRow], label_names: tuple[str, ...], width: int = 720, height: int = 300) -> SafeString:
    """Grouped bars: one group per label (L1..L4), one bar per scheme, whiskers for the interval (images and
    annotators crossed, as in the table).

    Every text that comes from data (scheme and label names) is escaped; the rest are numbers.
    """
    left, right, top, bottom = 44, 12, 12, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    group_w = plot_w / len(label_names)
    bar_w = group_w * 0.8 / max(len(rows), 1)

    def y(value: float) -> float:
        return top + plot_h * (1 - value)

    parts: list[str] = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#dde1e8"/>'
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:.0%}</text>'
        )
    for g, name in enumerate(label_names):
        x0 = left + g * group_w + group_w * 0.1
        parts.append(
            f'<text x="{left + (g + 0.5) * group_w:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'font-size="12">L{g + 1} {escape(name)}</text>'
        )
        for b, row in enumerate(rows):
            fraction = row.fractions.fractions[g]
            if fraction is None:
                continue
            x = x0 + b * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y(fraction):.1f}" width="{bar_w * 0.9:.1f}" height="{plot_h * fraction:.1f}" '
                f'fill="{COLOURS[b % len(COLOURS)]}"><title>{escape(row.scheme)} L{g + 1}: {fraction:.1%}</title></rect>'
            )
            interval = row.intervals[g]
            if interval:
                cx, lo, hi = x + bar_w * 0.45, y(interval.low), y(interval.high)
                parts.append(
                    f'<path d="M{cx:.1f} {lo:.1f}V{hi:.1f}M{cx - 3:.1f} {lo:.1f}h6M{cx - 3:.1f} {hi:.1f}h6" '
                    'stroke="#1d2330" fill="none"/>'
                )
    for i, row in enumerate(rows):
        x = left + i * 130
        parts.append(
            f'<rect x="{x}" y="{height - 22}" width="10" height="10" fill="{COLOURS[i % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="{height - 13}" font-size="12">{escape(row.scheme)}</text>'
        )
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Share of consensus images with each label, per scheme, with intervals">'
        + "".join(parts)
        + "</svg>"
    )
