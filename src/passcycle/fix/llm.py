"""Advice from a language model: an optional OpenAI-compatible chat endpoint, off by default.

It never breaks the cycle: any failure (no key, refused, slow, malformed) returns no advice
and a one-line reason. The key is read from the environment variable the plan names, sent
only in the Authorization header, and never appears in a reason, a log or an exception.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from passcycle.fix.suggest import Suggestion
from passcycle.records import Issue, TestResult

DEFAULT_TIMEOUT = 20.0  # seconds for the whole request
MAX_PROMPT = 6000  # characters of issue text sent
MAX_ADVICE = 4000  # characters of advice kept
SYSTEM_PROMPT = (
    "You are a senior Python engineer helping fix a failing test suite. Given one issue "
    "(failure, error, flaky or slow test), answer with the most likely cause and the "
    "smallest fix, in at most 8 lines. Do not repeat the input."
)


@dataclass(frozen=True, slots=True)
class LlmConfig:
    url: str  # base URL: {url}/chat/completions
    model: str
    key_env: str | None = None  # NAME of the environment variable holding the key
    timeout: float = DEFAULT_TIMEOUT
    enabled: bool = False


@dataclass(frozen=True, slots=True)
class Advice:
    text: str | None  # None: no advice
    reason: str | None = None  # why there is none, one line


def prompt(issue: Issue, results: list[TestResult], suggestion: Suggestion | None) -> str:
    """The issue as the model reads it: title, kind, location, message, a traceback."""
    parts = [f"Issue: {issue.title}", f"Kind: {issue.kind}, severity {issue.severity}"]
    if suggestion is not None:
        parts.append(f"Location: {suggestion.location}")
        parts.append(f"Rule-based next step: {suggestion.next_step}")
        if suggestion.changed_since_pass:
            changed = "\n".join(suggestion.changed_since_pass)
            parts.append(f"Changed since it last passed:\n{changed}")
    if issue.message:
        parts.append(f"Message:\n{issue.message}")
    tests = [r for r in results if r.nodeid in issue.tests][:1]
    for result in tests:
        if result.traceback:
            parts.append(f"Traceback of {result.nodeid}:\n{result.traceback}")
    return "\n\n".join(parts)[:MAX_PROMPT]


def advise(
    config: LlmConfig,
    issue: Issue,
    results: list[TestResult],
    suggestion: Suggestion | None = None,
) -> Advice:
    """Ask the endpoint for advice on `issue`; never raises."""
    if not config.enabled:
        return Advice(None, "advice from a model is off (plan: fix.llm)")
    key = ""
    if config.key_env:
        key = os.environ.get(config.key_env, "")
        if not key:
            return Advice(None, f"no key: environment variable {config.key_env} is not set")
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {
        "model": config.model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": prompt(issue, results, suggestion)},
        ],
        "temperature": 0,
    }
    url = config.url.rstrip("/") + "/chat/completions"
    # imported only when a model is asked: httpx imports click, and a run of click's own
    # suite (its source first on the path) must not break passcycle's suggestions
    import httpx

    try:
        with httpx.Client(timeout=config.timeout) as client:
            response = client.post(url, json=body, headers=headers)
    except httpx.TimeoutException:
        return Advice(None, f"the model endpoint did not answer within {config.timeout:g}s")
    except httpx.HTTPError as exc:
        # the exception's text may quote the request; name only its type and the host
        return Advice(None, f"cannot reach the model endpoint ({type(exc).__name__})")
    except Exception as exc:  # a broken URL or proxy setting: still never into the cycle
        return Advice(None, f"cannot ask the model endpoint ({type(exc).__name__})")
    if response.status_code != 200:
        return Advice(None, f"the model endpoint answered HTTP {response.status_code}")
    try:
        text = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Advice(None, "the model endpoint's answer is not a chat completion")
    if not isinstance(text, str) or not text.strip():
        return Advice(None, "the model endpoint returned no advice")
    return Advice(_redact(text.strip()[:MAX_ADVICE], key), None)


def _redact(text: str, key: str) -> str:
    """An endpoint that echoes the request must not put the key in a report."""
    return text.replace(key, "***") if key else text
