"""Orchestration: ask every backend, take the majority, cache it, and survive failures."""

import asyncio
import threading
import time
from collections.abc import Callable

import httpx
from conftest import FakeClock, LiveClient, metric

from organism.backend import BackendServer, Behaviour, answer_for
from organism.metrics import Metrics
from organism.orchestrator import NoAnswer, Orchestrator

Start = Callable[..., BackendServer]
Make = Callable[..., LiveClient]


def ask(client: LiveClient, prompt: str, **extra: str) -> dict:
    response = client.post("/orchestrate", json={"prompt": prompt, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_agreeing_backends_give_the_answer_in_full_harmony(
    start_backend: Start, make_client: Make
) -> None:
    urls = [start_backend(f"m{i}").url for i in range(3)]
    result = ask(make_client(urls), "what is life?")
    assert result["answer"] == answer_for("what is life?")
    assert (result["agreed"], result["answered"], result["asked"]) == (3, 3, 3)
    assert result["harmony"] == 1.0
    assert result["answers"] == dict.fromkeys(urls, result["answer"])
    assert result["skipped"] == [] and result["failed"] == {}
    assert result["cached"] is False


def test_a_disagreeing_backend_lowers_harmony_but_not_the_answer(
    start_backend: Start, make_client: Make
) -> None:
    urls = [start_backend("a").url, start_backend("b", disagree=True).url, start_backend("c").url]
    result = ask(make_client(urls), "hello")
    assert result["answer"] == answer_for("hello")
    assert result["agreed"] == 2
    assert result["harmony"] == 2 / 3


def test_a_tie_goes_to_the_first_backend(start_backend: Start, make_client: Make) -> None:
    urls = [start_backend("a", disagree=True).url, start_backend("b").url]
    result = ask(make_client(urls), "tie")
    assert result["answer"] == answer_for("tie", disagree=True)
    assert result["harmony"] == 0.5


def test_a_repeated_prompt_is_answered_from_the_cache(
    start_backend: Start, make_client: Make
) -> None:
    url = start_backend().url
    client = make_client([url])
    first = ask(client, "again")
    second = ask(client, "again")
    assert second["cached"] is True
    assert {**second, "cached": False} == first
    assert metric(client, "organism_backend_calls_total", backend=url, outcome="ok") == 1
    assert metric(client, "organism_cache_hits_total") == 1


def test_a_cached_answer_expires(start_backend: Start, make_client: Make, clock: FakeClock) -> None:
    url = start_backend().url
    client = make_client([url], cache_ttl=30, clock=clock)
    ask(client, "again")
    clock.advance(30)
    assert ask(client, "again")["cached"] is False
    assert metric(client, "organism_backend_calls_total", backend=url, outcome="ok") == 2


def test_a_failing_backend_is_reported_and_outvoted(
    start_backend: Start, make_client: Make
) -> None:
    good, bad = start_backend("good").url, start_backend("bad", fail_rate=1.0).url
    result = ask(make_client([good, bad]), "x")
    assert result["answers"] == {good: answer_for("x")}
    assert result["failed"][bad].startswith("HTTPStatusError")
    assert (result["answered"], result["asked"], result["harmony"]) == (1, 2, 1.0)


def test_a_slow_backend_times_out_without_holding_up_the_answer(
    start_backend: Start, make_client: Make
) -> None:
    fast, slow = start_backend("fast").url, start_backend("slow", delay_ms=2000).url
    client = make_client([fast, slow], backend_timeout=0.2)
    result = ask(client, "hurry")
    assert result["failed"] == {slow: "timeout after 0.2s"}
    assert result["answers"] == {fast: answer_for("hurry")}
    assert metric(client, "organism_backend_calls_total", backend=slow, outcome="timeout") == 1


def test_nonsense_from_a_backend_counts_as_a_failure(
    payload_server: Callable[[int, bytes], str], make_client: Make
) -> None:
    urls = [
        payload_server(200, b"not json"),
        payload_server(200, b'{"answer": 42}'),
        payload_server(200, b'{"word": "x"}'),
    ]
    response = make_client(urls).post("/orchestrate", json={"prompt": "p"})
    assert response.status_code == 503
    failed = response.json()["failed"]
    assert failed[urls[0]].startswith("JSONDecodeError")
    assert failed[urls[1]] == "ValueError: answer is not a word: 42"
    assert failed[urls[2]].startswith("KeyError")


def test_with_no_backend_answering_it_is_503(start_backend: Start, make_client: Make) -> None:
    url = start_backend(fail_rate=1.0).url
    client = make_client([url])
    response = client.post("/orchestrate", json={"prompt": "anyone?"})
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "no backend answered"
    assert list(body["failed"]) == [url]
    assert client.post("/orchestrate", json={"prompt": "anyone?"}).status_code == 503, (
        "a failure is not cached"
    )


def test_with_no_backends_at_all_it_is_503(client: LiveClient) -> None:
    response = client.post("/orchestrate", json={"prompt": "x"})
    assert response.status_code == 503
    assert response.json() == {"error": "no backend answered", "skipped": [], "failed": {}}


def test_an_unreachable_backend_opens_its_breaker_and_is_then_skipped(
    start_backend: Start, make_client: Make, clock: FakeClock
) -> None:
    server = start_backend("flaky", fail_rate=1.0)
    good = start_backend("good").url
    client = make_client([server.url, good], failure_threshold=2, reset_timeout=10, clock=clock)
    for prompt in ("a", "b"):
        assert server.url in ask(client, prompt)["failed"]
    assert metric(client, "organism_breaker_open", backend=server.url) == 1
    result = ask(client, "c")
    assert result["skipped"] == [server.url]
    assert result["asked"] == 1

    server.behaviour = Behaviour("flaky")  # the backend recovers
    clock.advance(10)  # the cool-down passes: one trial call goes through and closes it
    assert ask(client, "d")["answered"] == 2
    assert metric(client, "organism_breaker_open", backend=server.url) == 0
    assert ask(client, "e")["skipped"] == []


def test_every_breaker_open_means_503_without_asking(
    start_backend: Start, make_client: Make
) -> None:
    url = start_backend(fail_rate=1.0).url
    client = make_client([url], failure_threshold=1, reset_timeout=60)
    client.post("/orchestrate", json={"prompt": "one"})
    response = client.post("/orchestrate", json={"prompt": "two"})
    assert response.status_code == 503
    assert response.json()["skipped"] == [url]
    assert metric(client, "organism_backend_calls_total", backend=url, outcome="skipped") == 1


def test_an_answer_is_remembered_in_the_session(start_backend: Start, make_client: Make) -> None:
    client = make_client([start_backend().url])
    session = client.post("/sessions", json={"user": "ana"}).json()
    result = ask(client, "remember me", session_id=session["id"])
    assert result["session_id"] == session["id"]
    data = client.get(f"/sessions/{session['id']}").json()["data"]
    assert data == {"last_prompt": "remember me", "last_answer": result["answer"]}


def test_an_unknown_or_ended_session_is_refused_before_asking(
    start_backend: Start, make_client: Make
) -> None:
    url = start_backend().url
    client = make_client([url])
    missing = client.post("/orchestrate", json={"prompt": "x", "session_id": "nope"})
    assert missing.status_code == 404
    session = client.post("/sessions", json={"user": "ana"}).json()
    client.delete(f"/sessions/{session['id']}")
    ended = client.post("/orchestrate", json={"prompt": "x", "session_id": session["id"]})
    assert ended.status_code == 409
    assert client.get("/metrics").text.count(f'backend="{url}"') == 1, "no backend was called"


def test_a_prompt_must_not_be_empty(client: LiveClient) -> None:
    assert client.post("/orchestrate", json={"prompt": ""}).status_code == 422


def run_orchestrator(orchestrator: Orchestrator, *prompts: str) -> list[dict | Exception]:
    async def go() -> list[dict | Exception]:
        await orchestrator.start()
        try:
            calls = (orchestrator.orchestrate(p) for p in prompts)
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await orchestrator.close()

    return asyncio.run(go())


def test_concurrent_requests_for_one_prompt_share_one_fan_out(start_backend: Start) -> None:
    urls = [start_backend("a", delay_ms=100).url, start_backend("b", delay_ms=100).url]
    metrics = Metrics()
    results = run_orchestrator(Orchestrator(urls, metrics), *["same"] * 5)
    assert [r["cached"] for r in results] == [False, True, True, True, True]
    assert all(r["answer"] == answer_for("same") for r in results)
    calls = metrics.backend_calls.labels(backend=urls[0], outcome="ok")._value.get()
    assert calls == 1


def test_calls_beyond_the_connection_slots_wait_and_give_up_as_busy(
    start_backend: Start,
) -> None:
    # One connection: "a" holds it 0-0.7 s, "b" waits 0.7 s for it (under the 1 s
    # deadline) and holds it until 1.4 s, "c" gives up waiting at 1 s.
    url = start_backend(delay_ms=700).url
    metrics = Metrics()
    orchestrator = Orchestrator([url], metrics, timeout=1.0, max_in_flight=1)
    results = run_orchestrator(orchestrator, "a", "b", "c")
    assert [type(r) for r in results] == [dict, dict, NoAnswer]
    assert results[2].failed == {url: "busy: no free connection within 1s"}
    assert orchestrator.breakers[url].failures == 0, "being busy is not the backend's fault"


def test_a_session_ended_while_the_backends_think_cannot_record_the_answer(
    start_backend: Start, make_client: Make
) -> None:
    client = make_client([start_backend(delay_ms=400).url])
    session = client.post("/sessions", json={"user": "ana"}).json()
    replies: list[httpx.Response] = []
    asking = threading.Thread(
        target=lambda: replies.append(
            client.post("/orchestrate", json={"prompt": "slow", "session_id": session["id"]})
        )
    )
    asking.start()
    time.sleep(0.15)
    assert client.delete(f"/sessions/{session['id']}").status_code == 200
    asking.join()
    assert replies[0].status_code == 409
    assert "last_answer" not in client.get(f"/sessions/{session['id']}").json()["data"]
