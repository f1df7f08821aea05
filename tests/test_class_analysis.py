"""The analysis page: engine decisions and mistakes on constructed histories, then a seeded class of 30
simulated players played through the real service."""

from __future__ import annotations

import csv
import io

from engine import decisions
from engine.actions import CONTINUE, DONE, INITIAL, REVERT
from engine.debrief import Step
from tests.support.class_sim import ready_dataset, seeded_class
from tests.support.histories import point
from tests.support.players import ready_player
from tests.support.staff import instructor_client
from tests.webutil import game


def test_decisions_read_the_state_shown_and_the_next_three_epochs():
    steps = [Step(INITIAL, point(1, 0.50, 0.50, 1.2)), Step(CONTINUE, point(2, 0.60, 0.58, 1.0)),
             Step(CONTINUE, point(3, 0.65, 0.62, 0.9)), Step(CONTINUE, point(4, 0.70, 0.66, 0.8)),
             Step(CONTINUE, point(5, 0.72, 0.70, 0.7)), Step(DONE, None)]
    choices = [{"width": 64}, {"lr": "down", "width": "same"}, {}, {}, {}, {}]
    found = decisions.decisions(steps, choices)
    second = found[1]
    assert second.epoch == 1 and second.val_acc == 0.50 and second.change == {"lr": "down"}
    assert second.next_val == (0.58, 0.62, 0.66) and abs(second.delta - 0.16) < 1e-9
    assert second.change_text() == "lr down" and found[2].change_text() == "no change"
    # Done while validation rose 0.08 over 3 epochs to its best: stopped while still improving.
    assert found[-1].mistakes == (decisions.STOPPED_WHILE_IMPROVING,) and found[-1].next_val == ()


def test_mistakes_on_constructed_histories():
    rising = [Step(INITIAL, point(1, 0.5, 0.5, 1.0, val_loss=1.0)), Step(CONTINUE, point(2, 0.55, 0.52, 0.9, val_loss=1.2)),
              Step(CONTINUE, point(3, 0.6, 0.5, 0.8, lr=0.03))]
    found = decisions.decisions(rising, [{}, {}, {"lr": "up"}])
    assert found[2].mistakes == (decisions.LR_UP_WHILE_VAL_LOSS_RISES,)
    broken = [Step(INITIAL, point(1, 0.5, 0.5, 1.0)), Step(CONTINUE, point(2, 0.1, 0.1, None, diverged=True)),
              Step(CONTINUE, point(3, 0.1, 0.1, None, diverged=True)), Step(REVERT, None)]
    found = decisions.decisions(broken, [{}, {"lr": "up"}, {}, {}])
    assert found[2].mistakes == (decisions.NO_REVERT_AFTER_DIVERGED,) and found[3].mistakes == ()
    overfit = [Step(INITIAL, point(1, 0.70, 0.80, 1.0)), Step(CONTINUE, point(2, 0.80, 0.77, 0.8)),
               Step(CONTINUE, point(3, 0.90, 0.74, 0.6)), Step(CONTINUE, point(4, 0.95, 0.70, 0.5))]
    found = decisions.decisions(overfit, [{}, {}, {}, {}])
    assert found[3].mistakes == (decisions.IGNORED_OVERFITTING,)


def test_spearman_and_thin_data():
    assert decisions.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert decisions.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert decisions.spearman([1, 1, 1], [1, 2, 3]) is None
    assert decisions.ranks([5, 1, 5]) == [2.5, 1.0, 2.5]
    rows = decisions.importance([({k: 1.0 for k in decisions.HABITS}, 0.5)] * 4)
    assert all(r["thin"] for r in rows)


def test_analysis_of_a_seeded_class_of_thirty(database_url):
    with game(database_url, pool_size=1) as player:
        factory = player.app.state.session_factory
        ready_player(player, "s1")
        run = player.start()  # waits for the pool's first dataset and its baselines
        dataset_id = ready_dataset(factory)
        run_ids = seeded_class(factory, dataset_id, players=30, max_epochs=4)
        assert len(run_ids) == 30

        # Students are refused.
        for path in ("/instructor/analysis", "/instructor/analysis.json", "/instructor/analysis/decisions.csv"):
            assert player.client.get(path).status_code == 403
        with instructor_client(player) as prof:
            data = prof.get("/instructor/analysis.json").json()
            assert data["runs"] == 30  # the unfinished run of s1 is not counted
            assert {row["run_id"] for row in data["decisions"]} == set(run_ids)
            assert len(data["decisions"]) >= 30 * 3 and all(r["student"].startswith("Sim Player") for r in data["decisions"])
            people = data["people"][0]
            kinds = {c["kind"] for c in people["curves"]}
            assert "student" in kinds and "bot" in kinds
            assert sum(c["kind"] == "student" for c in people["curves"]) == 30
            assert {r["habit"] for r in data["importance"]} == set(decisions.HABITS)
            assert any(not r["thin"] for r in data["importance"])

            page = prof.get("/instructor/analysis")
            assert page.status_code == 200
            for words in ("Decisions against outcome", "most common mistakes", "People beside algorithms",
                          "Spearman", '<svg class="chart" id="chart-decisions"', "Sim Player 00"):
                assert words in page.text, words

            table = list(csv.DictReader(io.StringIO(prof.get("/instructor/analysis/decisions.csv").text)))
            assert len(table) == len(data["decisions"]) and table[0]["student"].startswith("Sim Player")
            for name in ("mistakes", "people", "curves", "importance"):
                got = prof.get(f"/instructor/analysis/{name}.csv")
                assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
            assert prof.get("/instructor/analysis/secrets.csv").status_code == 404

            # Filters: a family narrows, a family nobody played empties, bad values are a clear 422.
            family = people["family"]
            assert prof.get(f"/instructor/analysis.json?family={family}").json()["runs"] == 30
            assert prof.get("/instructor/analysis.json?scenario=pool").json()["runs"] == 30
            assert prof.get("/instructor/analysis.json?scenario=12345").json()["runs"] == 0
            for bad in ("family=nope", "condition=nope", "scenario=abc", "scenario=-1"):
                refused = prof.get(f"/instructor/analysis?{bad}")
                assert refused.status_code == 422 and "Traceback" not in refused.text, bad
        assert run


def test_parallel_chart_draws_each_shared_segment_once_and_darker():
    """Decisions that cross the same stretch share one segment, drawn darker the more of them there are."""
    import re

    from app.classview.charts import parallel_chart

    row = {"kind": "continue", "epoch": 5, "val_acc": 0.6, "lr": 0.01, "lr_move": "same", "delta": 0.02}
    rows = [row] * 40 + [{**row, "epoch": 6}, {**row, "delta": -0.05}]
    svg = str(parallel_chart("chart-test", rows))
    paths = re.findall(r'<path d="([^"]+)" fill="none" stroke="(#[0-9a-f]+)" stroke-width="1" stroke-opacity="([0-9.]+)"', svg)
    segments = {(colour, segment): float(opacity) for d, colour, opacity in paths for segment in re.findall(r"M[^M]+", d)}
    assert len(segments) == sum(d.count("M") for d, _, _ in paths)  # no segment is drawn twice in one colour
    shared = [opacity for (colour, segment), opacity in segments.items() if colour == "#0072b2"]
    assert max(shared) == 0.8 and min(shared) == 0.15  # 41 blue lines share 3 of 4 stretches; one stretch is one line's
    assert len(shared) == 4 + 1  # the shared line's 4 segments, and epoch 6's own first segment
    assert "42 decisions" in svg and "41 followed by a rise" in svg and "1 by a fall" in svg
