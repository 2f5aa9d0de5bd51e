"""Matplotlib-to-inline-SVG plumbing shared by every chart in ``charts.py``.

This module owns: the lazy, once-per-process matplotlib import; the fixed
style (Okabe-Ito palette, system sans-serif fonts, text kept as ``<text>``);
making output reproducible (fixed hash salt, no date metadata); turning a
``Figure`` into an SVG fragment that can be inlined in HTML or a WeasyPrint
document (no XML prolog, ids namespaced per chart, ``<title>``/``<desc>``,
``role="img"`` and ``aria-label``); and number formatting for descriptions.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from html import escape
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

# Okabe & Ito (2008), "Color Universal Design": distinguishable for the common
# forms of colour blindness.  Ordered so the first colours have the highest
# contrast on white (blue 5.2:1, vermillion 3.9:1, bluish green 3.4:1,
# reddish purple 3.1:1); the paler ones come last and bars always get a dark
# outline so even they keep a 3:1 boundary (WCAG 1.4.11).
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "reddish_purple": "#CC79A7",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
PALETTE = tuple(OKABE_ITO.values())
# Hatches repeat the colour coding for greyscale print and colour-blind readers.
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "--", "oo")
TEXT_COLOUR = "#1a1a1a"  # 17:1 on white
GRID_COLOUR = "#d0d0d0"
EDGE_COLOUR = "#1a1a1a"

# rcParams are process-global in matplotlib, so they are applied with
# rc_context under a lock: our charts never see each other's (or another
# caller's) half-applied settings, and we never leave settings behind.
_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # real <text>: searchable, selectable, small
    "svg.hashsalt": "governance-reports",  # deterministic clip/marker ids
    "text.parse_math": False,  # "$5 and $10" is text, never mathtext
    "font.family": "sans-serif",
    # System fonts only; DejaVu Sans ships with matplotlib, so layout metrics
    # are always available and nothing is fetched.
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9.0,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.edgecolor": "#555555",
    "axes.labelcolor": TEXT_COLOUR,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#555555",
    "ytick.color": "#555555",
    "xtick.labelcolor": TEXT_COLOUR,
    "ytick.labelcolor": TEXT_COLOUR,
    "text.color": TEXT_COLOUR,
    "legend.frameon": False,
    "hatch.linewidth": 0.6,
}
_LOCK = threading.Lock()
_TAG = re.compile(r"<[^>]+>")
# Inside a tag only: matplotlib escapes <, >, & and quotes in attribute values
# and < > & in text, so "<...>" spans are exactly the real tags and user text
# can never be rewritten by these patterns.
_ID_ATTR = re.compile(r'(\sid=")([^"]+)(")')
_ID_REF = re.compile(r"(url\(#|href=\"#)([^)\"]+)")
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
# matplotlib's one global rule, "*{stroke-linejoin: round; stroke-linecap: butt}".
# Inlined in HTML, a <style> would apply to the whole page, so its
# declarations move to the root <svg>, where they are inherited instead.
_STYLE_ELEMENT = re.compile(r"\s*<defs>\s*<style[^>]*>\*\{([^}]*)\}</style>\s*</defs>")
# Presentation attributes that SVG 1.1 defines for these properties.  Written
# as attributes rather than style="...", the fragment is plain SVG to every
# consumer: WeasyPrint's HTML parser would otherwise try the inline styles as
# HTML CSS and log a warning for every "fill" and "stroke" it does not know.
_PRESENTATION = frozenset(
    {
        "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity",
        "stroke-linecap", "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset",
        "stroke-miterlimit", "opacity", "font-family", "font-size", "font-weight",
        "font-style", "text-anchor", "dominant-baseline", "clip-rule", "visibility",
    }
)  # fmt: skip


def _declarations(css: str) -> tuple[str, list[str]]:
    """Split CSS declarations into presentation attributes and leftover CSS."""
    attrs, rest = [], []
    for decl in css.split(";"):
        name, _, value = decl.partition(":")
        name, value = name.strip(), value.strip()
        if not name:
            continue
        if name in _PRESENTATION:
            attrs.append(f' {name}="{value}"')
        else:
            rest.append(f"{name}: {value}")
    return "".join(attrs), rest


def _rewrite_tag(tag: str, prefix: str) -> str:
    tag = _ID_ATTR.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}{m.group(3)}", tag)
    tag = _ID_REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", tag)

    def to_attributes(m: re.Match[str]) -> str:
        attrs, rest = _declarations(m.group(1))
        return attrs + (f' style="{"; ".join(rest)}"' if rest else "")

    return _STYLE_ATTR.sub(to_attributes, tag)


# Values that `_frozen` returns as they are, by exact type: a chart's data is mostly these, in
# plain dicts and lists, and the abstract `Mapping`/`Iterable` checks cost a dashboard view
# about as much as the rest of the cache's key.
_PLAIN = frozenset({int, float, bool, str, bytes, tuple, type(None), dt.date, dt.datetime})


def _frozen(value: Any) -> Any:
    """`value` with its mappings and one-shot iterables made into lists, so it can be both
    described (for the cache's key) and still drawn."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k: v if type(v) in _PLAIN else _frozen(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {k: _frozen(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | tuple):
        return [_frozen(v) for v in value]
    return value


# Drawn charts kept per process: a few hundred kilobytes of SVG, never on disk.
REMEMBERED_CHARTS = 64


def remembered(draw: Callable[..., Markup]) -> Callable[..., Markup]:
    """A chart is a pure function of its data and labels, and drawing one with matplotlib
    costs 50 to 150 ms: the same data drawn again (every dashboard view until the counts
    change) is served from a small per-process cache. The key is the data itself, so nothing
    can be stale: a new count is a new key."""
    cache: OrderedDict[str, Markup] = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Markup:
        args = tuple(_frozen(a) for a in args)
        kwargs = {k: _frozen(v) for k, v in kwargs.items()}
        key = hashlib.sha256(repr((args, sorted(kwargs.items()))).encode()).hexdigest()
        with lock:
            if (svg := cache.get(key)) is not None:
                cache.move_to_end(key)
                return svg
        svg = draw(*args, **kwargs)
        with lock:
            cache[key] = svg
            while len(cache) > REMEMBERED_CHARTS:
                cache.popitem(last=False)
        return svg

    return drawn


@contextmanager
def figure(width: float, height: float) -> Iterator[Figure]:
    """Yield a fresh ``Figure`` (inches) with the report style applied."""
    import matplotlib  # lazy: ~0.4 s, paid by the first chart, not at app start
    from matplotlib.figure import Figure

    with _LOCK, matplotlib.rc_context(_STYLE):
        # Object-oriented API only: no pyplot, so no global figure manager and
        # no GUI backend is ever selected.
        yield Figure(figsize=(width, height), layout="constrained")


def to_svg(fig: Figure, title: str, desc: str) -> Markup:
    """Serialise *fig* to an accessible SVG fragment (call inside ``figure()``)."""
    buf = io.StringIO()
    # All metadata keys None: no <metadata> block, so no date and no version.
    fig.savefig(
        buf,
        format="svg",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop XML declaration and DOCTYPE
    root_attrs = ""
    if match := _STYLE_ELEMENT.search(svg):
        root_attrs, _ = _declarations(match.group(1))
        svg = svg[: match.start()] + svg[match.end() :]
    # Namespace ids by content hash: two charts inlined in one page must not
    # share clip-path ids, yet the same chart must give the same bytes.
    prefix = "c" + hashlib.sha256(f"{svg}{title}{desc}".encode()).hexdigest()[:10]
    svg = _TAG.sub(lambda m: _rewrite_tag(m.group(0), prefix), svg)
    opening_end = svg.index(">") + 1
    aria = (
        f' role="img" aria-label="{escape(title)}" aria-describedby="{prefix}-desc"'
        f' class="report-chart"{root_attrs}'
    )
    # Safe to mark as markup: matplotlib escaped every label in the body, and
    # title/desc are escaped just above (tests inject "</svg><script>").
    return Markup(  # noqa: S704
        svg[: opening_end - 1]
        + aria
        + ">"
        + f'<title id="{prefix}-title">{escape(title)}</title>'
        + f'<desc id="{prefix}-desc">{escape(desc)}</desc>'
        + svg[opening_end:].strip()
    )


def fmt(value: float) -> str:
    """Format a number for a description: integers with separators, else 2 decimals or 3 figures."""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def shorten(label: str, limit: int = 40) -> str:
    """Shorten a tick label for display; the full text stays in ``<desc>``."""
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def listing(items: list[str], limit: int = 12) -> str:
    """Join description items, summarising the tail of long lists."""
    if len(items) <= limit:
        return "; ".join(items)
    return "; ".join(items[:limit]) + f"; and {len(items) - limit} more"


def check_finite(*values: float) -> None:
    """Reject NaN and infinities: a chart of them would silently mislead."""
    for v in values:
        if not math.isfinite(v):
            raise ValueError(f"chart values must be finite numbers, got {v!r}")


def no_data(title: str, width: float, height: float) -> Markup:
    """An empty chart that says so, for a report period without data."""
    with figure(width, height) as fig:
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes)
        return to_svg(fig, title, "No data.")
