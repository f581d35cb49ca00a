"""Bounded texts, and the role of this pytest process."""

from __future__ import annotations

from typing import Any

MESSAGE_LIMIT = 2_000
TRACEBACK_LIMIT = 8_000


def bounded_head(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bounded_tail(text: str, limit: int = TRACEBACK_LIMIT) -> str:
    return text if len(text) <= limit else "...\n" + text[-(limit - 4) :]


def is_worker(config: Any) -> bool:
    return hasattr(config, "workerinput")


def distributed(config: Any) -> bool:
    return config.pluginmanager.getplugin("dsession") is not None
