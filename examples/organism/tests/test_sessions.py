"""Sessions over HTTP and in SQLite: create, read, update, end, and persist."""

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LiveClient, metric

from organism.sessions import SessionEnded, SessionNotFound, SessionStore


def create(client: LiveClient, user: str = "ana") -> dict:
    response = client.post("/sessions", json={"user": user})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_new_session_is_active_and_empty(client: LiveClient) -> None:
    session = create(client)
    assert set(session) == {"id", "user", "state", "created", "updated", "data"}
    assert session["user"] == "ana"
    assert session["state"] == "active"
    assert session["data"] == {}
    assert session["created"] == session["updated"]


def test_each_session_gets_its_own_id(client: LiveClient) -> None:
    assert create(client)["id"] != create(client)["id"]


def test_a_session_needs_a_user(client: LiveClient) -> None:
    assert client.post("/sessions", json={}).status_code == 422
    assert client.post("/sessions", json={"user": ""}).status_code == 422


def test_a_session_reads_back_as_created(client: LiveClient) -> None:
    session = create(client)
    response = client.get(f"/sessions/{session['id']}")
    assert response.status_code == 200
    assert response.json() == session


def test_an_unknown_session_is_404(client: LiveClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"data": {}}} if method == "PATCH" else {}
        response = client.request(method, "/sessions/nope", **kwargs)
        assert response.status_code == 404, method
        assert response.json() == {"detail": "session nope not found"}


def test_patch_merges_data_and_moves_updated(client: LiveClient) -> None:
    session = create(client)
    url = f"/sessions/{session['id']}"
    client.patch(url, json={"data": {"mood": "calm", "step": 1}})
    response = client.patch(url, json={"data": {"step": 2, "tags": ["a"]}})
    assert response.status_code == 200
    updated = response.json()
    assert updated["data"] == {"mood": "calm", "step": 2, "tags": ["a"]}
    assert updated["created"] == session["created"]
    assert updated["updated"] > session["updated"]
    assert client.get(url).json() == updated


def test_patch_wants_an_object_of_data(client: LiveClient) -> None:
    session = create(client)
    response = client.patch(f"/sessions/{session['id']}", json={"data": [1, 2]})
    assert response.status_code == 422


def test_ending_a_session_twice_is_a_conflict(client: LiveClient) -> None:
    session = create(client)
    url = f"/sessions/{session['id']}"
    ended = client.delete(url)
    assert ended.status_code == 200
    assert ended.json()["state"] == "ended"
    again = client.delete(url)
    assert again.status_code == 409
    assert again.json() == {"detail": f"session {session['id']} has ended"}
    assert client.patch(url, json={"data": {"x": 1}}).status_code == 409
    assert client.get(url).json()["state"] == "ended", "an ended session can still be read"


def test_sessions_survive_a_restart_of_the_app(
    make_client: Callable[..., LiveClient], db_path: Path
) -> None:
    first = make_client()
    kept = create(first)
    kept = first.patch(f"/sessions/{kept['id']}", json={"data": {"k": "v"}}).json()
    gone = create(first)
    first.delete(f"/sessions/{gone['id']}")
    first.close()

    second = make_client()
    assert second.get(f"/sessions/{kept['id']}").json() == kept
    assert metric(second, "organism_sessions_active") == 1, "counted from the database"


def test_the_database_runs_in_wal_mode(client: LiveClient, db_path: Path) -> None:
    create(client)
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_row_changed_behind_the_store_fails_the_persistence_check(
    client: LiveClient, db_path: Path
) -> None:
    session = create(client)
    client.get(f"/sessions/{session['id']}")
    assert metric(client, "organism_session_persistence_ratio") == 1.0
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE sessions SET data = ? WHERE id = ?", ('{"x": 1}', session["id"]))
    client.get(f"/sessions/{session['id']}")
    assert metric(client, "organism_session_persistence_ratio") == 0.5


def test_a_consistent_write_by_someone_else_is_not_what_this_store_wrote(db_path: Path) -> None:
    mine, other = SessionStore(db_path), SessionStore(db_path)
    try:
        session = mine.create("ana")
        assert mine.get(session["id"]) == (session, True)
        changed = other.update(session["id"], {"by": "other"})
        assert other.get(session["id"]) == (changed, True)
        assert mine.get(session["id"]) == (changed, False)
    finally:
        mine.close()
        other.close()


def test_the_store_remembers_a_bounded_number_of_writes(db_path: Path) -> None:
    store = SessionStore(db_path, remember=2)
    try:
        ids = [store.create(f"u{i}")["id"] for i in range(3)]
        # The oldest is forgotten: it can only be checked against its stored digest.
        assert [store.get(i)[1] for i in ids] == [True, True, True]
        assert ids[0] not in store._written
    finally:
        store.close()


def test_the_store_raises_for_unknown_and_ended_sessions(db_path: Path) -> None:
    store = SessionStore(db_path)
    try:
        session = store.create("ana")
        store.end(session["id"])
        with pytest.raises(SessionNotFound):
            store.get("nope")
        with pytest.raises(SessionNotFound):
            store.end("nope")
        with pytest.raises(SessionEnded):
            store.update(session["id"], {"x": 1})
        assert store.count_active() == 0
    finally:
        store.close()


def test_health_is_ok_while_the_database_answers(client: LiveClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    client.app.state.store.close()
    broken = client.get("/health")
    assert broken.status_code == 503
    assert broken.json()["status"] == "error"
