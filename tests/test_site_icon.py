"""Every page's icon: /favicon.ico answers (browsers ask for it on every site) and pages link it."""

from __future__ import annotations


def test_favicon_is_served_and_linked(tmp_path):
    from tests.webutil import game

    with game(f"sqlite:///{tmp_path}/game.sqlite3") as player:
        icon = player.client.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/x-icon"
        assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
        page = player.client.get("/login")
        assert 'rel="icon"' in page.text
        assert player.client.get("/static/favicon.svg").status_code == 200
