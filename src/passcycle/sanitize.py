"""Text a test controls (names, messages, output), made inert the one way every writer uses:
ANSI sequences removed (they are styling), other control characters shown as their Unicode
pictures (ESC as ␛, NUL as ␀), so the terminal, the reports and the alerts show the same."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b(?:\[(?:<n>|[0-?])*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_ansi(text: object) -> str:
    return ANSI.sub("", str(text))


def _picture(match: re.Match[str]) -> str:
    # C0 controls as their Unicode pictures (NUL -> ␀, BEL -> ␇): visible, and inert
    code = ord(match[0])
    return chr(0x2400 + code) if code < 0x20 else ("\u2421" if code == 0x7F else "\ufffd")


def visible(text: object, limit: int | None = None, *, oneline: bool = False) -> str:
    """Text from a test without ANSI sequences, its control characters shown as pictures
    (newlines and tabs kept unless `oneline`), bounded to `limit` characters."""
    value = strip_ansi(text)
    if oneline:
        value = " ".join(value.split())
    value = CONTROL.sub(_picture, value)
    if limit is not None and len(value) > limit:
        value = value[: max(limit - 1, 0)] + "…"
    return value


def last_line(text: str, default: str, limit: int = 200) -> str:
    """The last line a program printed that says something (its error, as a rule), on one
    line and bounded; `default` when it printed nothing."""
    lines = [line for line in text.splitlines() if line.strip()]
    return visible(lines[-1].strip() if lines else default, limit, oneline=True)
