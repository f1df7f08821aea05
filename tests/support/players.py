"""Signing a test's player or staff member in."""

from __future__ import annotations

from app.staff.service import create_account
from tests.webutil import Player

#: The password every test staff account gets.
PASSWORD = "correct horse battery"


def ready_player(player: Player, student_id: str = "s1") -> Player:
    """Logged in and surveyed: the player may start a dataset."""
    assert player.login(student_id).status_code == 200
    assert player.survey().status_code == 200
    return player


def staff_login(player, username: str, role: str) -> None:
    """Create a staff account with ``role`` and sign the player's client in with it."""
    with player.app.state.session_factory() as db:
        create_account(db, username, PASSWORD, role)
        db.commit()
    response = player.client.post("/staff/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303
