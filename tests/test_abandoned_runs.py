"""Class statistics count pool runs only and say so; a run its player left ends as abandoned (a new run, or the
class's idle timeout) instead of staying "in progress" for ever."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from app.runs.models import Run
from tests.support.play import configured_run, sqlite_player, wait_dataset_ready
from tests.support.staff import instructor_client


def tile(page: str, tile_id: str) -> str:
    return page[page.index(f'id="{tile_id}"'):].split("</div>")[0]


def test_a_run_left_for_a_scenario_is_abandoned_and_scenario_runs_are_not_counted(tmp_path):
    with sqlite_player(tmp_path, pool_size=1) as player:
        pool_run = configured_run(player)  # trained one epoch, then the player follows a scenario link
        with instructor_client(player) as staff:
            made = staff.post("/instructor/scenarios", data={"title": "Same dataset", "family": "clusters", "seed": "1"},
                              follow_redirects=False)
            assert made.status_code == 303
            token = made.headers["location"].split("created=")[1]
            wait_dataset_ready(player, token)
            started = player.client.post(f"/s/{token}/runs", follow_redirects=False)
            assert "/configure" in started.headers["location"], started.text
            assert player.run(pool_run).status == "abandoned"
            assert "started another run" in player.run(pool_run).end_reason
            # The abandoned run is over: its page is the result, and it takes no more actions.
            assert player.client.get(f"/runs/{pool_run}", follow_redirects=False).headers["location"].endswith("/result")
            assert "Run abandoned" in player.client.get(f"/runs/{pool_run}/result").text
            dashboard = staff.get("/instructor").text
        runs = tile(dashboard, "tile-runs")
        assert "pool runs started: 0 in progress, 0 finished, 1 abandoned, 0 failed" in runs
        assert "1 run started from scenario links" in dashboard  # counted apart, and said so
        assert "0 of 1" in tile(dashboard, "tile-completion")


def test_idle_runs_end_after_the_instructors_timeout(tmp_path):
    with sqlite_player(tmp_path, pool_size=1) as player:
        run_id = configured_run(player)
        with instructor_client(player) as staff:
            bad = staff.post("/instructor/settings", data={"pool_size": "1", "abandon_after_minutes": "-5"})
            assert bad.status_code == 422 and "abandoned" in bad.text
            saved = staff.post("/instructor/settings", data={"pool_size": "1", "abandon_after_minutes": "30"})
            assert saved.status_code == 200 and 'value="30"' in saved.text
            assert "1 in progress" in tile(staff.get("/instructor").text, "tile-runs")
            with player.app.state.session_factory() as db:
                long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=31)
                db.execute(update(Run).where(Run.id == run_id).values(updated_at=long_ago))
                db.commit()
            dashboard = staff.get("/instructor").text
        assert "0 in progress" in tile(dashboard, "tile-runs") and "1 abandoned" in tile(dashboard, "tile-runs")
        with player.app.state.session_factory() as db:
            run = db.scalar(select(Run).where(Run.id == run_id))
            assert run.status == "abandoned" and run.end_reason == "abandoned: no action for 30 minutes"
