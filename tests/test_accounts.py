"""Keys, secrets at rest, and cross-account isolation."""

from __future__ import annotations

import sqlite3

import pytest

from support import b64, png_bytes, wait_for_task, wait_until

T2V = "/v1/videos/text2video"


def test_keys_list_never_shows_secrets(gateway, account):
    listed = gateway.cli("keys", "list")
    mine = next(item for item in listed if item["account_id"] == account.account_id)
    text = repr(listed)
    assert (
        account.api_key not in text and account.secret_key not in text and account.webhook_secret not in text
    )
    assert mine["access_key"] == account.access_key and mine["revoked"] is False


def test_secrets_are_not_stored_in_plain_text(gateway, account, backend):
    if backend is not None:
        pytest.skip("checked on the SQLite file; PostgreSQL stores the same columns")
    db_file = gateway.data_dir / "gateway.sqlite3"
    raw = db_file.read_bytes() + (
        db_file.with_name(db_file.name + "-wal").read_bytes()
        if db_file.with_name(db_file.name + "-wal").exists()
        else b""
    )
    for secret in (account.api_key, account.secret_key, account.webhook_secret):
        assert secret.encode() not in raw
    with sqlite3.connect(db_file) as conn:
        stored = conn.execute(
            "select api_key_hash, secret_key_enc from accounts where id=?", (account.account_id,)
        ).fetchone()
    assert len(stored[0]) == 64 and stored[1] != account.secret_key


def test_revoked_key_is_refused(gateway, http):
    issued = gateway.create_account("short-lived")
    assert http.get(T2V, headers=issued.bearer).status_code == 200
    assert http.get(T2V, headers=issued.jwt_headers()).status_code == 200
    gateway.cli("keys", "revoke", issued.account_id)

    def refused() -> bool:  # auth lookups are cached for 5 s per process
        answers = [http.get(T2V, headers=headers) for headers in (issued.bearer, issued.jwt_headers())]
        return all(r.status_code == 401 and r.json()["code"] == 1000 for r in answers)

    wait_until(refused, timeout=10, interval=0.25, what="the revoked key to be refused")


def test_other_accounts_task_looks_like_a_missing_one(http, account, other_account):
    created = http.post(T2V, json={"prompt": "mine", "external_task_id": "iso-1"}, headers=account.bearer)
    task_id = created.json()["data"]["task_id"]
    missing = http.get(f"{T2V}/999999999999999998", headers=other_account.bearer)
    foreign = http.get(f"{T2V}/{task_id}", headers=other_account.bearer)
    foreign_ext = http.get(f"{T2V}/iso-1", headers=other_account.bearer)
    for response in (foreign, foreign_ext):
        assert response.status_code == missing.status_code == 404
        assert response.json()["code"] == missing.json()["code"] == 1203
    listed = http.get(T2V, params={"pageSize": 500}, headers=other_account.bearer).json()["data"]
    assert task_id not in {t["task_id"] for t in listed}
    # the same external id is free for the other account
    theirs = http.post(
        T2V, json={"prompt": "theirs", "external_task_id": "iso-1"}, headers=other_account.bearer
    )
    assert theirs.status_code == 200
    assert theirs.json()["data"]["task_id"] != task_id


def test_foreign_video_id_is_refused(http, account, other_account):
    created = http.post(
        "/v1/videos/image2video", json={"image": b64(png_bytes(400, 400))}, headers=account.bearer
    )
    done = wait_for_task(http, "/v1/videos/image2video", created.json()["data"]["task_id"], account.bearer)
    video_id = done["task_result"]["videos"][0]["id"]
    response = http.post("/v1/videos/video-extend", json={"video_id": video_id}, headers=other_account.bearer)
    assert response.status_code == 400 and response.json()["code"] == 1201
    assert "does not exist" in response.json()["message"]
    init = http.post(
        "/v1/videos/multi-elements/init-selection", json={"video_id": video_id}, headers=other_account.bearer
    )
    assert init.status_code == 400 and "does not exist" in init.json()["message"]
