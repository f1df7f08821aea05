"""The research export: researcher-only pages, no identities in any file, the documented schema,
curves rebuilt from the export alone, and ``hyperquest export`` (embedded app on SQLite)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from app.accounts.models import Student, name_key
from app.cli import main as cli_main
from app.research import export
from app.runs import service
from app.runs.models import Run
from app.runs.view import chart_series
from app.staff.service import create_account
from tests.support.play import settle, start_run
from tests.support.staff import login_staff
from tests.webutil import BACKENDS, Player, backend_url, game

ROOT = Path(__file__).resolve().parent.parent
REPLAY = ROOT / "scripts" / "replay_curves.py"
DOC = ROOT / "docs" / "export-schema.md"

#: Distinctive identities, so a leak is found by a plain byte search.
STUDENTS = {"alpha-stu-9341": "Ada Quokkaworth", "beta-stu-5702": "Bram Zephyrson"}
BOT_ID, BOT_NAME = "botacct-7788", "Rule-based"
RESEARCHER = ("rs_lab_kestrel", "correct horse battery staple")
INSTRUCTOR = ("in_prof_marlowe", "another long passphrase")
TABLE_FILES = [f"{name}.{{fmt}}" for name in export.TABLES]


# ----------------------------------------------------------------------------- the played game


def login_student(player: Player, student_id: str, survey: bool = True) -> None:
    player.client.cookies.clear()
    assert player.login(student_id, STUDENTS.get(student_id, "Rule Bot Account")).status_code == 200
    if survey:
        assert player.survey().status_code == 200


def configure(player: Player, run_id: int) -> None:
    assert player.configure(run_id).status_code == 303
    player.wait_ready(run_id)


def finish(player: Player, run_id: int) -> None:
    assert player.act(run_id, "done").status_code == 303


@pytest.fixture(scope="module", params=BACKENDS)
def played(request, tmp_path_factory):
    """Two students (surveyed) and a bot played short runs; a researcher and an instructor exist (on each backend)."""
    with backend_url(request.param, tmp_path_factory.mktemp("export")) as url, game(url) as player:
        runs = {}
        first, second = STUDENTS
        login_student(player, first)
        run_id = start_run(player)
        configure(player, run_id)
        player.play_ready(run_id)                        # epoch 2
        assert player.act(run_id, "revert").status_code == 303   # epoch 2 reverted
        player.play_ready(run_id, width="up")            # epoch 2 again, with a width change
        player.play_ready(run_id, lr="down")             # epoch 3
        finish(player, run_id)
        runs[first] = run_id

        login_student(player, second)
        run_id = start_run(player)
        configure(player, run_id)
        player.play_ready(run_id, dropout="up")
        finish(player, run_id)
        runs[second] = run_id

        login_student(player, BOT_ID)  # the game asks every player for the survey first; bots' answers are not exported
        run_id = start_run(player)
        configure(player, run_id)
        finish(player, run_id)
        runs[BOT_ID] = run_id

        settle(player)
        with player.app.state.session_factory() as db:
            bot = db.scalar(select(Student).where(Student.student_id == BOT_ID))
            bot.role, bot.name = "bot", BOT_NAME
            create_account(db, *RESEARCHER, "researcher")
            create_account(db, *INSTRUCTOR, "instructor")
            db.commit()
        player.client.cookies.clear()
        yield player, url, runs


def download(player: Player, fmt: str, query: str = "") -> dict[str, bytes]:
    """The web export's files; logs in as the researcher only when needed (staff logins are rate-limited)."""
    url = f"/research/export.zip?format={fmt}{query}"
    response = player.client.get(url, follow_redirects=False)
    if response.status_code in (303, 403):
        login_staff(player, *RESEARCHER)
        response = player.client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def read_table(files: dict[str, bytes], name: str, fmt: str) -> tuple[list[str], list[dict]]:
    """(column names in file order, rows as dicts of raw CSV text, JSON values or Parquet values)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(files[f"{name}.{fmt}"]))
        return table.column_names, table.to_pylist()
    data = files[f"{name}.{fmt}"].decode("utf-8")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(data, newline=""))
        rows = list(reader)
        return list(reader.fieldnames or []), rows
    rows = [json.loads(line) for line in data.splitlines() if line.strip()]
    return (list(rows[0]) if rows else []), rows


def documented_tables() -> dict[str, list[tuple[str, str, bool]]]:
    """docs/export-schema.md's tables: name -> [(column, type, nullable)] in document order."""
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## Table `(\w+)`\s*$", line)
        if heading:
            current = tables.setdefault(heading.group(1), [])
            continue
        if line.startswith("## "):
            current = None
        row = re.match(r"^\| `(\w+)` \| (\w+) \| (yes|no) \|", line)
        if row and current is not None:
            current.append((row.group(1), row.group(2), row.group(3) == "yes"))
    return tables


# ----------------------------------------------------------------------------- (a) access


def test_only_researchers_reach_the_research_pages(played):
    player, _, _ = played
    paths = ["/research", "/research/schema.md", "/research/export.zip?format=csv", "/research/export.zip?format=jsonl",
             "/research/export.zip"]
    client = player.client

    client.cookies.clear()
    for path in paths:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/staff/login", path

    login_student(player, next(iter(STUDENTS)), survey=False)
    for path in paths:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 403, (path, response.status_code)
        assert "PK\x03\x04" not in response.text

    login_staff(player, *INSTRUCTOR)
    for path in paths:
        assert client.get(path, follow_redirects=False).status_code == 403, path

    login_staff(player, *RESEARCHER)
    page = client.get("/research")
    assert page.status_code == 200
    for text in ("Research export", 'action="/research/export.zip"', 'name="format" value="csv"',
                 'name="format" value="jsonl"', 'name="format" value="parquet"', 'name="session_day"', 'name="exact_times"',
                 "/research/schema.md", f"Schema version <strong>{export.SCHEMA_VERSION}</strong>", RESEARCHER[0]):
        assert text in page.text, text
    for name in export.TABLES:
        assert f'id="table-{name}"' in page.text
    assert re.search(r">participants</a></td><td>2</td>", page.text)  # two students; the bot is no participant
    assert client.get("/research/schema.md").text == DOC.read_text(encoding="utf-8")
    bad = client.get("/research/export.zip?format=xml")
    assert bad.status_code == 400 and "format must be one of csv, jsonl, parquet" in bad.text
    bad = client.get("/research/export.zip?format=csv&session_day=maybe")
    assert bad.status_code == 400 and "session_day must be 1 or 0" in bad.text
    client.cookies.clear()


# ----------------------------------------------------------------------------- (b) privacy


def test_export_holds_no_identity_and_stable_pseudonyms(played):
    player, _, runs = played
    first = {fmt: download(player, fmt) for fmt in export.FORMATS}
    again = download(player, "csv")
    forbidden = [*STUDENTS, *STUDENTS.values(), *(part for name in STUDENTS.values() for part in name.split() if len(part) >= 5),
                 BOT_ID, RESEARCHER[0], INSTRUCTOR[0], "scrypt$"]
    with player.app.state.session_factory() as db:
        forbidden += [s.student_id for s in db.scalars(select(Student)) if s.role != "bot"]
    for fmt, files in first.items():
        assert set(files) == {f.format(fmt=fmt) for f in TABLE_FILES} | {"manifest.json", "SCHEMA.md"}
        for name, data in files.items():
            lowered = data.lower()
            for secret in forbidden:
                assert secret.lower().encode() not in lowered, (fmt, name, secret)

    key = player.app.state.settings.pseudonym_key
    expected = {sid: export.pseudonym(sid, name_key(name), key) for sid, name in STUDENTS.items()}
    assert len(set(expected.values())) == 2 and all(re.fullmatch(r"p_[0-9a-f]{16}", p) for p in expected.values())
    for fmt in export.FORMATS:
        _, participants = read_table(first[fmt], "participants", fmt)
        assert sorted(row["pseudonym"] for row in participants) == sorted(expected.values())
        _, run_rows = read_table(first[fmt], "runs", fmt)
        by_run = {int(row["run_id"]): row for row in run_rows}
        for sid, run_id in runs.items():
            if sid == BOT_ID:
                assert by_run[run_id]["pseudonym"] == "bot:rule-based" and by_run[run_id]["player_kind"] == "bot"
            else:
                assert by_run[run_id]["pseudonym"] == expected[sid] and by_run[run_id]["player_kind"] == "student"
    # Stable across exports: every table is byte-identical (only the manifest's time differs).
    for name in export.TABLES:
        assert again[f"{name}.csv"] == first["csv"][f"{name}.csv"], name
    # A different key gives different pseudonyms: they depend on the secret, not on the ID alone.
    first_id, first_name = next(iter(STUDENTS.items()))
    assert export.pseudonym(first_id, name_key(first_name), b"another key entirely") != expected[first_id]
    # The same ID with another name is another player, with another pseudonym.
    assert export.pseudonym(first_id, "someone else", key) != expected[first_id]


# ----------------------------------------------------------------------------- (c) schema


def _check_value(column: export.Column, value, fmt: str) -> None:
    if value is None or (fmt == "csv" and value == ""):
        assert column.nullable, f"{column.name} is null"
        return
    if fmt == "parquet" and column.type == "json":
        value = json.loads(value)  # JSON text, as in CSV
    if fmt == "csv":
        parse = {"integer": int, "number": float, "string": str, "json": json.loads,
                 "boolean": lambda v: {"true": True, "false": False}[v], "timestamp": str}[column.type]
        value = parse(value)
    checks = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "json": lambda v: isinstance(v, (dict, list)),
        "timestamp": lambda v: isinstance(v, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", v),
    }
    assert checks[column.type](value), (column.name, column.type, value)


def test_tables_match_the_documented_schema(played):
    player, _, runs = played
    documented = documented_tables()
    assert list(documented) == list(export.TABLES)
    for name, table in export.TABLES.items():
        assert documented[name] == [(c.name, c.type, c.nullable) for c in table.columns], name
    assert f"Schema version: **{export.SCHEMA_VERSION}**" in DOC.read_text(encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == export.schema_markdown(), \
        "docs/export-schema.md is stale: run `hyperquest export --schema-doc docs/export-schema.md`"

    for fmt in export.FORMATS:
        files = download(player, fmt)
        manifest = json.loads(files["manifest.json"])
        assert manifest["schema_version"] == export.SCHEMA_VERSION and manifest["format"] == fmt
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", manifest["created_at"])
        assert files["SCHEMA.md"] == DOC.read_bytes()
        tables = {}
        for name, table in export.TABLES.items():
            columns, rows = read_table(files, name, fmt)
            # JSON Lines names its columns only in its rows: an empty table (no messages sent) has none.
            assert columns == table.column_names or (fmt == "jsonl" and not rows), (fmt, name)
            assert manifest["tables"][name] == {"file": f"{name}.{fmt}", "rows": len(rows)}
            for row in rows:
                assert list(row) == table.column_names
                for column in table.columns:
                    _check_value(column, row[column.name], fmt)
            tables[name] = rows
        assert len(tables["participants"]) == 2
        kinds = [r["player_kind"] for r in tables["runs"]]
        assert kinds.count("student") == 2 and kinds.count("bot") >= 1 and set(kinds) == {"student", "bot"}
        assert all(r["pseudonym"].startswith("bot:") == (r["player_kind"] == "bot") for r in tables["runs"])
        assert {int(r["dataset_id"]) for r in tables["runs"]} <= {int(d["dataset_id"]) for d in tables["datasets"]}

        # Actions: time since the previous action, and the state shown matches the epoch before it.
        run_a = runs[next(iter(STUDENTS))]
        actions = [r for r in tables["actions"] if int(r["run_id"]) == run_a]
        epochs = [r for r in tables["epochs"] if int(r["run_id"]) == run_a]
        assert [r["kind"] for r in actions] == ["initial", "continue", "revert", "continue", "continue", "done"]
        assert actions[0]["seconds_since_previous"] in ("", None)
        assert all(float(r["seconds_since_previous"]) >= 0 for r in actions[1:])
        value = (lambda v: float(v)) if fmt == "csv" else (lambda v: v)
        as_json = (lambda v: json.loads(v)) if fmt in ("csv", "parquet") else (lambda v: v)
        assert value(actions[1]["shown_epoch"]) == 1 and value(actions[1]["shown_val_acc"]) == value(epochs[0]["val_acc"])
        shown_config = as_json(actions[1]["shown_config"])
        assert shown_config == {"width": 32, "depth": 2, "lr": 0.1, "dropout": 0.0, "weight_decay": 0.0}
        choices = as_json(actions[3]["choices"])
        assert choices == {"width": "up"}
        assert [str(r["reverted"]).lower() for r in epochs] == ["false", "true", "false", "false"]
        assert as_json(epochs[2]["change"])["steps"][0]["knob"] == "width"


# ----------------------------------------------------------------------------- (d) replay


def _replay(directory: Path, *extra: str) -> object:
    result = subprocess.run([sys.executable, str(REPLAY), str(directory), *extra], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.processes
def test_replay_script_reproduces_the_curves(played, tmp_path):
    player, _, runs = played
    with player.app.state.session_factory() as db:
        expected = {run.id: chart_series(service.all_epochs(db, run)) for run in db.scalars(select(Run))}
    assert any(series["reverted"] for series in expected.values()) and any(series["changes"] for series in expected.values())
    for fmt in export.FORMATS:
        directory = tmp_path / fmt
        export.write_directory(download(player, fmt), directory)
        for run_id, series in expected.items():
            assert _replay(directory, "--run", str(run_id)) == json.loads(json.dumps(series)), (fmt, run_id)
        assert _replay(directory) == {str(k): v for k, v in json.loads(json.dumps(expected)).items()}
    missing = subprocess.run([sys.executable, str(REPLAY), str(tmp_path / "csv"), "--run", "999999"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 1 and "not in this export" in missing.stderr


# ----------------------------------------------------------------------------- (e) CLI


def test_cli_export_writes_the_same_tables(played, tmp_path, monkeypatch, capsys):
    player, url, _ = played
    monkeypatch.setenv("HYPERQUEST_DATABASE_URL", url)
    monkeypatch.setenv("HYPERQUEST_SECRET_KEY", player.app.state.settings.secret_key)
    monkeypatch.delenv("HYPERQUEST_PSEUDONYM_SECRET", raising=False)
    web = {fmt: download(player, fmt) for fmt in export.FORMATS}

    out = tmp_path / "csv-dir"
    assert cli_main(["export", "--out", str(out)]) == 0
    for name in export.TABLES:
        assert (out / f"{name}.csv").read_bytes() == web["csv"][f"{name}.csv"], name
    assert json.loads((out / "manifest.json").read_text())["format"] == "csv"

    zipped = tmp_path / "export.zip"
    assert cli_main(["export", "--out", str(zipped), "--format", "jsonl", "--zip"]) == 0
    with zipfile.ZipFile(zipped) as archive:
        for name in export.TABLES:
            assert archive.read(f"{name}.jsonl") == web["jsonl"][f"{name}.jsonl"], name
    doc = tmp_path / "schema.md"
    assert cli_main(["export", "--schema-doc", str(doc)]) == 0
    assert doc.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")
    capsys.readouterr()

    for argv, message in (
        (["export", "--out", str(tmp_path / "x"), "--format", "xml"], "--format must be one of csv, jsonl, parquet"),
        (["export"], "--out PATH is required"),
        (["export", "--out", str(out)], "is not empty"),
        (["export", "--out", str(zipped), "--zip"], "already exists"),
        (["export", "--out", str(tmp_path / "no" / "such" / "dir")], "does not exist"),
    ):
        assert cli_main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("hyperquest export: error: ") and message in err, err
    assert not (tmp_path / "x").exists()
