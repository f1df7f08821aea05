"""Staff clients beside a player's: an instructor or a researcher logged in on the same app, or the player's own
client signed in as staff."""

from __future__ import annotations

import itertools
from contextlib import contextmanager

from app.staff.service import create_account
from tests.webutil import GameTestClient, Player

PASSWORD = "correct horse battery"
_names = itertools.count(1)


@contextmanager
def staff_client(player: Player, role: str = "instructor"):
    """A new client logged in as a new ``role`` account on the player's app."""
    username = f"{role}{next(_names)}"
    with player.app.state.session_factory() as db:
        create_account(db, username, PASSWORD, role)
        db.commit()
    # Not entered as a context: that would run the app's start-up (migrations, a second runner) again.
    client = GameTestClient(player.app)
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    try:
        yield client
    finally:
        client.close()


def instructor_client(player: Player):
    """An instructor's client on the player's app."""
    return staff_client(player, "instructor")


def login_staff(player: Player, username: str, password: str) -> None:
    """Sign the player's own client in as an existing staff account (its student session is dropped)."""
    player.client.cookies.clear()
    response = player.client.post("/staff/login", data={"username": username, "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
