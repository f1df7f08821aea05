"""Research export v3 on SQLite and PostgreSQL: consent decides who is exported, times are relative
unless exact times are asked for and allowed, Parquet reads back to the CSV's rows, and the new
research columns (condition, consent version, predictions, reasons, hints) are filled."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
import subprocess
import sys
import zipfile

import pyarrow.parquet as pq  # a runtime dependency: the Parquet export needs it
import pytest
from sqlalchemy import select

from app.accounts.models import Student, name_key
from app.classroom.models import ClassSettings
from app.classroom.service import class_settings
from app.cli import main as cli_main
from app.research import export
from app.research.export_formats import META_TABLE, META_VERSION, PARQUET_TYPES
from app.research.export_schema import EXACT_TIME_COLUMNS
from app.research.export_timing import check_allowed
from app.research.instruments import calibrations_by_student
from app.research.models import Assignment
from app.runs.models import ActionRecord, EpochRecord, Run
from app.staff.service import create_account
from tests.support.play import settle, start_run
from tests.support.staff import login_staff
from tests.webutil import backend_url, game


YES = ("yes-stu-4411", "Cora Consentwell")
NO = ("no-stu-5522", "Dov Declineham")
NONE = ("none-stu-6633", "Eli Neverasked")
RESEARCHER = ("rs_consent_heron", "a long enough research passphrase")
#: Tables about players: no wall-clock time may appear in them by default.
PLAYER_TABLES = ("participants", "runs", "epochs", "actions")
ISO = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d")


def database(kind: str, tmp_path_factory):
    """A fresh database of ``kind`` (the suite's shared backends)."""
    return backend_url(kind, tmp_path_factory.mktemp("consent"))


def play(player, login: tuple[str, str], epochs: int) -> int:
    player.client.cookies.clear()
    assert player.login(*login).status_code == 200
    assert player.survey().status_code == 200
    run_id = start_run(player)
    assert player.configure(run_id).status_code == 303
    player.wait_ready(run_id)
    for _ in range(epochs - 1):
        player.play_ready(run_id)
    assert player.act(run_id, "done").status_code == 303
    return run_id


def branch(db, bot: Student, parent: Run) -> int:
    """A debrief branch of ``parent`` by the automatic player, with one action."""
    at = parent.ended_at or dt.datetime.now(dt.timezone.utc)
    run = Run(student_pk=bot.id, dataset_id=parent.dataset_id, seed=7, status="ended", initial_config={}, config={},
              parent_run_id=parent.id, parent_epoch=1, created_at=at, ended_at=at)
    db.add(run)
    db.flush()
    db.add(ActionRecord(run_id=run.id, index=1, kind="initial", choices={}, shown={"action": 0, "epoch": 0}, status="done",
                        created_at=at))
    return run.id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    """Three players (consented, declined, never asked), debrief branches of two of them, a researcher."""
    with database(request.param, tmp_path_factory) as url, game(url) as player:
        runs = {YES: play(player, YES, 2), NO: play(player, NO, 1), NONE: play(player, NONE, 1)}
        settle(player)
        with player.app.state.session_factory() as db:
            students = {login: db.scalar(select(Student).where(Student.student_id == login[0])) for login in runs}
            students[YES].consented, students[YES].consent_version = True, 2
            students[NO].consented, students[NO].consent_version = False, 2
            db.add(Assignment(student_pk=students[YES].id, condition="hints", stratum="Less than 6 months", seed="s",
                              arms="control,hints"))
            db.add(Assignment(student_pk=students[NO].id, condition="control", stratum="Less than 6 months", seed="s",
                              arms="control,hints"))
            action = db.scalar(select(ActionRecord).where(ActionRecord.run_id == runs[YES], ActionRecord.kind == "continue"))
            action.prediction, action.confidence, action.reasons = 0.5, 4, ["plateau", "exploring"]
            action.reason_text, action.chart_hovers = "loss went flat", 3
            action.condition, action.hint = "hints", {"kind": "tip", "text": "lower the learning rate"}
            bot = Student(student_id="bot:rule-based", name="Rule-based", role="bot")
            db.add(bot)
            db.flush()
            branches = {login: branch(db, bot, db.get(Run, runs[login])) for login in (YES, NO)}
            create_account(db, *RESEARCHER, "researcher")
            class_settings(db, player.app.state.settings)
            db.commit()
        key = player.app.state.settings.pseudonym_key
        names = {login: export.pseudonym(login[0], name_key(login[1]), key) for login in runs}
        player.client.cookies.clear()
        yield {"player": player, "url": url, "runs": runs, "branches": branches, "names": names}


def set_class(world, **values) -> None:
    with world["player"].app.state.session_factory() as db:
        row = db.get(ClassSettings, 1)
        for name, value in values.items():
            setattr(row, name, value)
        db.commit()


@contextlib.contextmanager
def class_set(world, **values):
    set_class(world, **values)
    try:
        yield
    finally:
        set_class(world, **{name: False for name in values})


def get(world, query: str):
    client = world["player"].client
    response = client.get(f"/research/export.zip?{query}", follow_redirects=False)
    if response.status_code == 303:
        login_staff(world["player"], *RESEARCHER)
        response = client.get(f"/research/export.zip?{query}", follow_redirects=False)
    return response


def download(world, fmt: str, query: str = "") -> dict[str, bytes]:
    response = get(world, f"format={fmt}{query}")
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def parse_csv(table: export.Table, data: bytes) -> list[dict]:
    """CSV rows with every cell parsed by its column's type (empty = null)."""
    parse = {"integer": int, "number": float, "string": str, "timestamp": str, "json": json.loads,
             "boolean": lambda v: {"true": True, "false": False}[v]}
    types = {c.name: c.type for c in table.columns}
    return [{name: None if text == "" else parse[types[name]](text) for name, text in row.items()}
            for row in csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))]


def parquet_rows(table: export.Table, data: bytes) -> list[dict]:
    """Parquet rows, JSON columns parsed (they hold the CSV's JSON text)."""
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    for row in rows:
        for column in table.columns:
            if column.type == "json" and row[column.name] is not None:
                row[column.name] = json.loads(row[column.name])
    return rows


def rows_of(files: dict[str, bytes], fmt: str) -> dict[str, list[dict]]:
    """Every table's rows, typed, from any format."""
    tables = {}
    for name, table in export.TABLES.items():
        data = files[table.filename(fmt)]
        if fmt == "csv":
            tables[name] = parse_csv(table, data)
        elif fmt == "parquet":
            tables[name] = parquet_rows(table, data)
        else:
            tables[name] = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    return tables


def exported_run_ids(tables: dict[str, list[dict]]) -> set[int]:
    found = {r["run_id"] for name in ("runs", "epochs", "actions") for r in tables[name]}
    return found | {r["parent_run_id"] for r in tables["runs"] if r["parent_run_id"] is not None}


def check_scope(world, present: list, absent: list) -> None:
    for fmt in export.FORMATS:
        files = download(world, fmt)
        tables = rows_of(files, fmt)
        pseudonyms = {r["pseudonym"] for r in tables["participants"]} | {r["pseudonym"] for r in tables["runs"]}
        run_ids = exported_run_ids(tables)
        for login in absent:
            name = world["names"][login]
            if fmt != "parquet":  # Parquet pages are compressed: checked on the read-back rows only
                assert all(name.encode() not in data for data in files.values()), (fmt, login)
            assert name not in pseudonyms, (fmt, login)
            assert world["runs"][login] not in run_ids and world["branches"].get(login) not in run_ids, (fmt, login)
        for login in present:
            assert world["names"][login] in pseudonyms, (fmt, login)
            assert world["runs"][login] in run_ids, (fmt, login)
        manifest = json.loads(files["manifest.json"])
        with world["player"].app.state.session_factory() as db:
            counts = export.table_counts(db)
        assert counts == {name: len(rows) for name, rows in tables.items()}
        assert {name: t["rows"] for name, t in manifest["tables"].items()} == counts
    page = world["player"].client.get("/research")
    assert re.search(rf">participants</a></td><td>{counts['participants']}</td>", page.text)


def test_a_declined_consent_never_reaches_an_export(world):
    check_scope(world, present=[YES, NONE], absent=[NO])
    assert world["branches"][YES] in exported_run_ids(rows_of(download(world, "csv"), "csv"))


def test_a_research_class_exports_only_consenting_players(world):
    with class_set(world, research_enabled=True):
        check_scope(world, present=[YES], absent=[NO, NONE])


def test_no_wall_clock_time_of_a_player_by_default(world):
    with world["player"].app.state.session_factory() as db:
        stamps = [a.created_at for a in db.scalars(select(ActionRecord))]
        stamps += [e.created_at for e in db.scalars(select(EpochRecord))]
        stamps += [s.created_at for s in db.scalars(select(Student))]
    for fmt in export.FORMATS:
        files = download(world, fmt)
        manifest = json.loads(files["manifest.json"])
        assert manifest["time_mode"] == "relative" and manifest["session_day"] is False
        tables = rows_of(files, fmt)
        for name in PLAYER_TABLES:
            text = json.dumps(tables[name]).encode() + (files[f"{name}.{fmt}"] if fmt != "parquet" else b"")
            assert not ISO.search(text), (fmt, name, ISO.search(text))
            for stamp in stamps:
                assert export.timestamp(stamp)[:19].encode() not in text, (fmt, name)
            for column in EXACT_TIME_COLUMNS[name] + (("session_day",) if name != "participants" else ()):
                assert all(row[column] is None for row in tables[name]), (fmt, name, column)
        first = [a for a in tables["actions"] if a["run_id"] == world["runs"][YES]]
        assert first[0]["at_s"] == 0.0 and all(a["at_s"] >= 0 for a in first)
        yes = next(p for p in tables["participants"] if p["pseudonym"] == world["names"][YES])
        assert yes["joined_s"] <= 0 and yes["survey_answered_s"] <= 0
        # The branch counts on the clock of the player whose run it continues, not the bot's.
        run = next(r for r in tables["runs"] if r["run_id"] == world["runs"][YES])
        started = next(r for r in tables["runs"] if r["run_id"] == world["branches"][YES])["started_s"]
        assert started >= run["started_s"] and started == (run["ended_s"] if run["ended_s"] is not None else started)


def test_session_day_only_when_asked(world):
    files = download(world, "csv", "&session_day=1")
    assert json.loads(files["manifest.json"])["session_day"] is True
    tables = rows_of(files, "csv")
    for name in ("runs", "epochs", "actions"):
        assert all(row["session_day"] in (-1, 0, 1) for row in tables[name]), name
    assert all(row["timestamp"] is None for row in tables["actions"])


def test_exact_times_only_when_the_class_allows_them(world, tmp_path, monkeypatch, capsys):
    refused = get(world, "format=csv&exact_times=1")
    assert refused.status_code == 403 and "exact times are not allowed" in refused.text
    monkeypatch.setenv("HYPERQUEST_DATABASE_URL", world["url"])
    monkeypatch.setenv("HYPERQUEST_SECRET_KEY", world["player"].app.state.settings.secret_key)
    monkeypatch.delenv("HYPERQUEST_PSEUDONYM_SECRET", raising=False)
    capsys.readouterr()
    assert cli_main(["export", "--out", str(tmp_path / "refused"), "--exact-times"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hyperquest export: error: exact times are not allowed"), err
    assert not (tmp_path / "refused").exists()

    with class_set(world, allow_exact_times=True):
        files = download(world, "jsonl", "&exact_times=1")
        assert json.loads(files["manifest.json"])["time_mode"] == "exact"
        tables = rows_of(files, "jsonl")
        with world["player"].app.state.session_factory() as db:
            expected = {(a.run_id, a.index): export.timestamp(a.created_at) for a in db.scalars(select(ActionRecord))
                        if a.run_id in exported_run_ids(tables)}
        assert {(a["run_id"], a["action_index"]): a["timestamp"] for a in tables["actions"]} == expected
        assert all(r["created_at"] for r in tables["runs"]) and all(p["joined_at"] for p in tables["participants"])
        assert cli_main(["export", "--out", str(tmp_path / "exact"), "--exact-times", "--format", "parquet"]) == 0
        assert "exact and relative times" in capsys.readouterr().out
        cli_actions = parquet_rows(export.TABLES["actions"], (tmp_path / "exact" / "actions.parquet").read_bytes())
        assert {(a["run_id"], a["action_index"]): a["timestamp"] for a in cli_actions} == expected


def test_parquet_reads_back_to_the_csv_rows(world, tmp_path, monkeypatch):
    csv_files, parquet_files = download(world, "csv"), download(world, "parquet")
    assert json.loads(parquet_files["manifest.json"])["format"] == "parquet"
    for name, table in export.TABLES.items():
        data = parquet_files[f"{name}.parquet"]
        assert parquet_rows(table, data) == parse_csv(table, csv_files[f"{name}.csv"]), name
        schema = pq.read_schema(io.BytesIO(data))
        assert schema.metadata[META_VERSION.encode()] == export.SCHEMA_VERSION.encode() == b"5"
        assert schema.metadata[META_TABLE.encode()] == name.encode()
        assert schema.names == table.column_names
        assert [str(f.type) for f in schema] == [{"float64": "double"}.get(t, t) for t in
                                                 (PARQUET_TYPES[c.type] for c in table.columns)]
        assert [f.nullable for f in schema] == [c.nullable for c in table.columns]
    # The command line writes the same Parquet rows.
    monkeypatch.setenv("HYPERQUEST_DATABASE_URL", world["url"])
    monkeypatch.setenv("HYPERQUEST_SECRET_KEY", world["player"].app.state.settings.secret_key)
    monkeypatch.delenv("HYPERQUEST_PSEUDONYM_SECRET", raising=False)
    assert cli_main(["export", "--out", str(tmp_path / "pq"), "--format", "parquet"]) == 0
    for name, table in export.TABLES.items():
        assert parquet_rows(table, (tmp_path / "pq" / f"{name}.parquet").read_bytes()) == \
            parquet_rows(table, parquet_files[f"{name}.parquet"]), name


def test_research_columns(world):
    tables = rows_of(download(world, "jsonl"), "jsonl")
    with world["player"].app.state.session_factory() as db:
        yes_pk = db.scalar(select(Student.id).where(Student.student_id == YES[0]))
        calibration = calibrations_by_student(db)[yes_pk]
    participants = {p["pseudonym"]: p for p in tables["participants"]}
    yes, none = participants[world["names"][YES]], participants[world["names"][NONE]]
    assert (yes["condition"], yes["consent_version"], yes["predictions"]) == ("hints", 2, 1)
    assert (yes["calibration_mae"], yes["calibration_inside_share"]) == (calibration.mean_absolute_error,
                                                                        calibration.inside_share)
    assert (none["condition"], none["consent_version"], none["predictions"], none["calibration_mae"]) == (None, None, 0, None)
    runs = {r["run_id"]: r for r in tables["runs"]}
    assert runs[world["runs"][YES]]["condition"] == "hints" and runs[world["branches"][YES]]["condition"] is None
    assert all(r["scenario_id"] is None for r in runs.values())
    assert {e["condition"] for e in tables["epochs"] if e["run_id"] == world["runs"][YES]} == {"hints"}
    acted = [a for a in tables["actions"] if a["prediction"] is not None]
    assert len(acted) == 1
    assert {k: acted[0][k] for k in ("prediction", "confidence", "confidence_half_width", "reasons", "reason_text",
                                     "chart_hovers", "condition", "hint")} == {
        "prediction": 0.5, "confidence": 4, "confidence_half_width": 0.05, "reasons": ["plateau", "exploring"],
        "reason_text": "loss went flat", "chart_hovers": 3, "condition": "hints",
        "hint": {"kind": "tip", "text": "lower the learning rate"}}


@pytest.mark.processes
def test_the_web_app_starts_without_pyarrow():
    probe = "import sys, app.factory, app.research.pages, app.research.export; print('pyarrow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_exclusion_rule():
    bot, human = Student(role="bot", consented=False), Student(role="student")
    assert not export.excluded_player(bot, True)
    for consented, plain, study in ((True, False, False), (None, False, True), (False, True, True)):
        human.consented = consented
        assert (export.excluded_player(human, False), export.excluded_player(human, True)) == (plain, study), consented


def test_exact_times_refused_before_any_query():
    with pytest.raises(export.ExactTimesRefused):
        check_allowed(export.TimeOptions(exact=True), allow_exact_times=False)
    assert export.TimeOptions(exact=True).mode == "exact" and export.TimeOptions().mode == "relative"
    assert export.timestamp(dt.datetime(2025, 1, 31, 14, 2, 11)) == "2025-01-31T14:02:11Z"
