"""docs/export-schema.md, generated from the schema so the document cannot drift from the code.

Regenerate it with ``hyperquest export --schema-doc docs/export-schema.md``; a test compares the
checked-in file with schema_markdown().
"""

from __future__ import annotations

from app.research.export_schema import SCHEMA_VERSION, TABLES, Table

_INTRO = """\
# HyperQuest research export: schema version {version}

Schema version: **{version}**

The research export holds pseudonymous tables of what players did in HyperQuest: who took part (with
their survey answers, consent, condition and calibration), the datasets, every run, every trained
epoch and every action together with what the player saw when deciding. Who is in it: in a class
that runs a study (research enabled), the players who agreed to its consent text; in a class that
runs no study, every player (no consent was asked; `participants.consent` says `not asked`). Researchers download
it from `/research` (a zip), or an operator writes it with the command line:

```
hyperquest export --out DIR [--format csv|jsonl|parquet] [--zip] [--session-day] [--exact-times]
```

This document is generated from the code (`app/research/export_schema.py`, `TABLES`) with
`hyperquest export --schema-doc docs/export-schema.md`; a test checks that the file is exactly the
generated text. Any change to a column changes the schema version.

## Files

| File | Contents |
|---|---|
{files}| `manifest.json` | `schema_version`, `created_at`, `format` (`csv`, `jsonl` or `parquet`), `time_mode` (`relative` or `exact`), `session_day` (`true` or `false`) and, per table, its `file` and `rows` count |
| `SCHEMA.md` | this document |

## Privacy

* No names, student IDs, staff accounts, password hashes, checkpoints (network weights) or error texts are exported.
* A player appears only as a **pseudonym**: `p_` followed by the first 16 hexadecimal digits of
  HMAC-SHA256(key, student ID + newline + name), the name as login compares it (spaces collapsed,
  case-folded): players log in with ID and name together, so one ID typed with two names is two
  players. The key is `HYPERQUEST_PSEUDONYM_SECRET`, or, when that is unset, a key
  derived from `HYPERQUEST_SECRET_KEY`. The same player has the same pseudonym in every export made
  with the same key; without the key a pseudonym cannot be linked back to a student ID.
* Participants are listed in pseudonym order, not in the order they joined.
* **Bots** (automatic players, accounts with role `bot`) are not participants: they are absent from
  `participants`, and their runs are in `runs` with `player_kind` = `bot` and a pseudonym of the form
  `bot:<name>` (for example `bot:rule-based`).

## Consent

In a class that runs no study, every player is exported, with `consent` = `not asked`. A human player is
left out of **every** table (participants, their runs, epochs and actions) when they declined consent, or
when their class runs a study (research enabled in the class settings) and they have not consented. Debrief branches grown from a left-out run are left out too, with their epochs and
actions. The row counts on `/research` and in `manifest.json` count the same rows.

## Times

An exact time can re-identify a pseudonym to anyone who saw the class play. So, by default, no
wall-clock time of a player is exported:

* Every time of a player is in **seconds since that player's first action** (their first submit in any
  run: the initial configuration of their first run), in columns ending in `_s`: `joined_s`,
  `survey_answered_s`, `started_s`, `ended_s`, `finished_s`, `at_s`. Times before the first action are
  negative: `joined_s` (the first login) nearly always is, by the time the player spent on consent, the
  survey, the instructions and the configure page (e.g. −89 s), and so are `survey_answered_s` and the
  first run's `started_s`. A player without actions counts from their first login (their `joined_s` is 0).
  A debrief branch counts on the clock of the player whose run it continues.
* Durations are always exported: an epoch's `seconds` (training time), an action's
  `seconds_since_previous` (submit to submit, the previous epoch's training included) and its
  **decision time** `decision_s`, from when the player's page showed the finished epoch to the submit
  (`decision_from` = `page`), or, when no browser measure came with the submit (no JavaScript, the
  automatic player), from the server's end of the previous epoch (`epoch_end`).
* `session_day` (runs, epochs, actions) is the day index since the UTC date of the player's first
  action (0 = that day, -1 the day before); it is filled only when requested (`--session-day`, or the
  checkbox on `/research`), null otherwise.
* The exact columns (`joined_at`, `survey_answered_at`, runs' `created_at` and `ended_at`, epochs'
  `created_at`, actions' `timestamp`) are always present but null, unless the researcher requests exact
  times (`--exact-times`, or the checkbox) **and** the instructor's class settings allow exact times;
  a request the settings do not allow is refused (the command exits with status 1, the page answers 403).
* `manifest.json` records `time_mode` (`exact` when the exact columns are filled) and `session_day`.
* `datasets.created_at` is not about a person and is always exact.

## Conventions

| Type | CSV | JSON Lines | Parquet |
|---|---|---|---|
| `integer` | decimal digits | number | int64 |
| `number` | decimal text that reads back as the exact same double (Python `repr`) | number | double |
| `string` | text | string | string |
| `boolean` | `true` or `false` | `true` or `false` | bool |
| `timestamp` | ISO 8601 in UTC ending in `Z`, e.g. `2025-01-31T14:02:11.532001Z` | the same, as a string | the same, as a string |
| `json` | compact JSON text (keys sorted) | the JSON value itself (object or list) | the CSV's JSON text, as a string |

* Null is an empty CSV field, `null` in JSON Lines and a null in Parquet. Only columns marked nullable are ever null.
* Non-finite numbers (a diverged loss) are exported as null, also inside JSON values, so every file is strict JSON.
* CSV files are UTF-8 with a header row of the column names, in the order below, and `\\n` line ends.
* JSON Lines files have one object per line whose keys are the column names, in the order below.
* Parquet files have the columns below, in that order, with those types; non-nullable columns are
  declared non-nullable. Each file's key-value metadata holds `hyperquest.schema_version` and
  `hyperquest.table`; each column's metadata holds its `description` and `hyperquest.type`. Read back
  (for example with `pyarrow.parquet.read_table`), a Parquet file has the same rows as the CSV file.
* A configuration (`initial_config`, `final_config`, `shown_config`, `choices` of an `initial` action) is an object
  with the five knobs `width`, `depth`, `lr`, `dropout`, `weight_decay`.

## Rebuilding the curves

`scripts/replay_curves.py` (standard library only; pyarrow for a Parquet export) rebuilds the curves
the training page draws for any run from an unzipped export alone:

```
python scripts/replay_curves.py DIR --run 12
```

The curves are the epochs of `epochs` for the run, in `sequence` order, that were not `reverted`
(`number`, `train_loss`, `val_loss`, `train_acc`, `val_acc`), the width/depth change markers from their
`change.steps` (knob and direction), and the reverted epochs as separate markers.
"""

_HISTORY = """\
## History

* Version 1: first version.
* Version 2: debrief branches are runs of the automatic player with `parent_run_id` and `parent_epoch`
  (their epochs and actions are in those tables like any bot run's); datasets carry the reference players'
  scores (`baseline_random`, `baseline_oracle`, `oracle_schedule`).
* Version 3: Parquet beside CSV and JSON Lines. Players who declined consent (or, in a study, have not
  consented) are left out of every table. Times of players are seconds since their first action
  (`joined_s`, `survey_answered_s`, `started_s`, `ended_s`, `finished_s`, `at_s`) with an optional
  `session_day`; the exact columns (`joined_at`, `survey_answered_at`, `created_at`, `ended_at`,
  `timestamp`) are null unless exact times are requested and allowed. New columns: participants'
  `condition`, `consent_version`, `predictions`, `calibration_mae`, `calibration_inside_share`; runs'
  `condition`, `scenario_id`; epochs' `condition`; actions' `prediction`, `confidence`,
  `confidence_half_width`, `reasons`, `reason_text`, `chart_hovers`, `condition`, `hint`.
* Version 4: participants' `consent` (`agreed` or `not asked`), said plainly who is exported; datasets'
  `chance`, `normalisation_top`, `normalisation_top_player`, `normalisation_complete` and runs'
  `normalised_score` (the leaderboard's scale: 0 = guessing, 1 = the best reference player); actions'
  `decision_s` and `decision_from` (decision time, without the training wait that `seconds_since_previous`
  includes); run status `abandoned`; the hint texts write knob values the way the pages do (1e-5, 0.03).
* Version 5: the `messages` table: the instructor's messages from the live class page, one row per player
  shown each (`audience` `class` or `student`), timed like every other event of a player (`sent_s`).
"""


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "/").replace("\n", " ")


def table_markdown(table: Table) -> str:
    """One table's section: heading, description and a row per column."""
    lines = [f"## Table `{table.name}`", "", table.description, "",
             "| Column | Type | Nullable | Description |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {_cell(c.description)} |" for c in table.columns]
    return "\n".join(lines) + "\n"


def schema_markdown() -> str:
    """The whole of docs/export-schema.md for the current schema."""
    files = "".join(f"| `{name}.csv` / `.jsonl` / `.parquet` | {_cell(table.description)} |\n"
                    for name, table in TABLES.items())
    parts = [_INTRO.format(version=SCHEMA_VERSION, files=files)]
    parts += [table_markdown(table) for table in TABLES.values()]
    parts.append(_HISTORY)
    return "\n".join(parts)
