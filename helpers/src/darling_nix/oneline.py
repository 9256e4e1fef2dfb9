"""What counts as a control character, and values shown in an error message: on one line,
control characters escaped, cut short. The gate imports this on every connection, so it
imports nothing and does no work at import."""

from __future__ import annotations

# C0 controls (newline, tab, NUL...), DEL and the C1 controls, the Unicode line and
# paragraph separators, and lone surrogates (JSON's "\ud800"), which cannot even be
# written out as UTF-8. Some parser or other ends a line at each of them.
CONTROL_RANGES = ((0x00, 0x1F), (0x7F, 0x9F), (0x2028, 0x2029), (0xD800, 0xDFFF))


def control_class() -> str:
    """CONTROL_RANGES as the inside of a regular expression's [...] (no `re` here: lean)."""
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in CONTROL_RANGES)


def _escaped(char: str) -> str:
    code = ord(char)
    return ascii(char)[1:-1] if any(low <= code <= high for low, high in CONTROL_RANGES) \
        else char


def shorten(text: str, limit: int = 80) -> str:
    """TEXT with its control characters escaped, cut in the middle to LIMIT characters."""
    if len(text) > 4 * limit:  # escape only what can be shown
        text = text[:2 * limit] + text[-2 * limit:]
    text = "".join(map(_escaped, text))
    if len(text) <= limit:
        return text
    keep = limit - 3
    return text[:keep - keep // 2] + "..." + text[len(text) - keep // 2:]


def shown(value: object, limit: int = 60) -> str:
    """VALUE as an error message shows it: its repr, at most LIMIT characters."""
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[:2 * limit] + value[-2 * limit:]  # the middle is cut below anyway
    return shorten(repr(value), limit)
