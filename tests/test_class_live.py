"""The live class page and the instructor's messages over HTTP: tiles, alerts, messages, roles and class scoping."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import Student, name_key
from app.classroom.models import ClassSettings
from app.classview.models import InstructorMessage
from app.db.base import utcnow
from app.staff.service import create_account
from tests.support.players import ready_player
from tests.support.staff import PASSWORD, instructor_client
from tests.webutil import GameTestClient

INSTRUCTOR_PAGES = ("/instructor/live", "/instructor/live.json", "/instructor/analysis", "/instructor/analysis.json",
                    "/instructor/analysis/decisions.csv")


def other_class_instructor(player):
    """A second class (id 2) with one student of its own, and a client of its instructor."""
    with player.app.state.session_factory() as db:
        db.add(ClassSettings(id=2, class_code=None, pool_size=1, allowed_families=[], reveal_test_accuracy=False))
        db.flush()
        account = create_account(db, "prof_other", PASSWORD, "instructor")
        account.class_id = 2
        db.add(Student(student_id="o1", name="Olga Other", name_key=name_key("Olga Other"), class_id=2, created_at=utcnow()))
        db.commit()
    client = GameTestClient(player.app)
    assert client.post("/staff/login", data={"username": "prof_other", "password": PASSWORD},
                       follow_redirects=False).status_code == 303
    return client


def test_live_tiles_messages_and_roles(player):
    ready_player(player, "s1")
    run_id = player.start()
    assert player.configure(run_id).status_code == 303
    player.wait_ready(run_id)

    # Students are refused every instructor page of the class view.
    for path in INSTRUCTOR_PAGES:
        assert player.client.get(path).status_code == 403, path
    assert player.client.post("/instructor/messages", data={"to": "class", "text": "hi"}).status_code == 403

    with instructor_client(player) as prof:
        page = prof.get("/instructor/live")
        assert page.status_code == 200 and "Ada Lovelace" in page.text and 'id="alerts"' in page.text
        data = prof.get("/instructor/live.json").json()
        tile = next(t for t in data["tiles"] if t["name"] == "Ada Lovelace")
        assert tile["run_id"] == run_id and tile["epoch"] == 1 and tile["last_action"].startswith("Start:")
        assert tile["replay"] == f"/instructor/runs/{run_id}/replay" and tile["last_at"]

        # A class-wide message and one to Ada: both on her training page.
        sent = prof.post("/instructor/messages", data={"to": "class", "text": "Ten minutes left"}, follow_redirects=False)
        assert sent.status_code == 303 and sent.headers["location"].startswith("/instructor/live?sent=")
        with player.app.state.session_factory() as db:
            ada = db.scalar(select(Student).where(Student.student_id == "s1"))
        assert prof.post("/instructor/messages", data={"to": str(ada.id), "text": "Try a lower learning rate"},
                         follow_redirects=False).status_code == 303
        training = player.client.get(f"/runs/{run_id}").text
        assert "Ten minutes left" in training and "Try a lower learning rate" in training and "(to you)" in training
        assert "Ten minutes left" in prof.get("/instructor/live").text  # the sent list

        # Bad input: a clear 422, nothing stored.
        for form, words in (({"to": "class", "text": "   "}, "write a message"),
                            ({"to": "class", "text": "x" * 501}, "at most 500"),
                            ({"to": "nobody", "text": "hi"}, "recipient"),
                            ({"to": "999999", "text": "hi"}, "no such student"),
                            ({"to": "99999999999", "text": "hi"}, "no such student")):
            refused = prof.post("/instructor/messages", data=form)
            assert refused.status_code == 422 and words in refused.text, (form, refused.text[:300])
        with player.app.state.session_factory() as db:
            assert len(list(db.scalars(select(InstructorMessage)))) == 2

        # Another class's instructor sees nothing of this class, and cannot message its students.
        other = other_class_instructor(player)
        try:
            theirs = other.get("/instructor/live.json").json()
            assert [t["name"] for t in theirs["tiles"]] == ["Olga Other"] and theirs["alerts"] == []
            assert "Ada Lovelace" not in other.get("/instructor/live").text
            refused = other.post("/instructor/messages", data={"to": str(ada.id), "text": "hello"})
            assert refused.status_code == 422 and "no such student" in refused.text
            assert other.post("/instructor/messages", data={"to": "class", "text": "Class two only"},
                              follow_redirects=False).status_code == 303
            assert "Class two only" not in player.client.get(f"/runs/{run_id}").text
        finally:
            other.close()


def test_message_stream_refuses_bad_input_and_strangers(player):
    assert player.client.get("/messages/events?after=-1").status_code in (401, 303, 422)
    ready_player(player, "s2")
    assert player.client.get("/messages/events?after=abc").status_code == 422
    assert player.client.get("/messages/events?after=-5").status_code == 422
