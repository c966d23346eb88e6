"""Keys through the CLI (listing, revoking) and what needs a rendered video (foreign video ids).
Secrets at rest and isolation between accounts: tests/integration/test_account_rules.py."""

from __future__ import annotations

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


def test_revoked_key_is_refused(gateway, http):
    issued = gateway.create_account("short-lived")
    assert http.get(T2V, headers=issued.bearer).status_code == 200
    assert http.get(T2V, headers=issued.jwt_headers()).status_code == 200
    gateway.cli("keys", "revoke", issued.account_id)

    def refused() -> bool:  # auth lookups are cached for at most 1 s per process
        answers = [http.get(T2V, headers=headers) for headers in (issued.bearer, issued.jwt_headers())]
        return all(r.status_code == 401 and r.json()["code"] == 1000 for r in answers)

    wait_until(refused, timeout=10, interval=0.25, what="the revoked key to be refused")


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
