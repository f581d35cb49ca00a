"""The plan's [load] section: how many Locust processes generate the scenarios' load."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import field_validator

from passcycle.sections import Section, counts

MOST = 256  # workers or cores: more is a typo


class LoadSection(Section):
    """`workers = "auto"` (the default) lets passcycle choose per scenario from what the
    history measured of its generator (scenarios/generator.py); a number fixes it, as
    `--workers N` does (the option wins). `cores`: the cores the generator may take when
    it chooses; 0 means those passcycle may run on, less one kept for the service."""

    workers: Literal["auto"] | int = "auto"
    cores: Annotated[int, counts(0, MOST)] = 0

    @field_validator("workers", mode="plain")
    @classmethod
    def _auto_or_number(cls, value: Any) -> Literal["auto"] | int:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MOST:
            raise ValueError(
                f'write "auto" or a number of Locust workers from 0 to {MOST}, not {value!r}'
            )
        return value
