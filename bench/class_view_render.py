"""Benchmark: the instructor's analysis page for a big class, rendered in Chromium.

Fills a fresh SQLite database with ``--students`` finished runs of ``--epochs`` epochs each (300 × 30:
about 9,000 action rows; constructed curves, nothing is trained), serves it with `hyperquest serve`,
signs an instructor in and loads /instructor/analysis in Debian's Chromium. Prints and writes (``--out``)
the server's time to the first byte, the time until the page's load event and until it is painted with
every chart, the HTML and static sizes:

    python bench/class_view_render.py --out /tmp/class-view-render.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import hyperquest_env, start_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "a long staff password"


def fill(url: str, students: int, epochs: int, seed: int) -> int:
    """Migrate ``url`` and add the class; returns the number of action rows."""
    from app.accounts.models import Student, name_key
    from app.datasets.models import DatasetRecord
    from app.db import migrate
    from app.db.base import utcnow
    from app.db.session import make_engine, make_session_factory
    from app.runs.models import ENDED, ActionRecord, EpochRecord, Run
    from app.staff.service import create_account
    from engine.datasets import playable_families

    migrate.upgrade(url)
    factory = make_session_factory(make_engine(url))
    rng = random.Random(seed)
    actions = 0
    with factory() as db:
        create_account(db, "prof", PASSWORD, "instructor")
        dataset = DatasetRecord(family=playable_families()[0], seed=1, size="tiny", num_classes=4, input_shape=[24],
                                train_examples=600, val_examples=200, test_examples=200, baseline_status="done",
                                references_status="done", baseline_default=0.7, baseline_linear=0.5, baseline_bot=0.8,
                                baseline_random=0.6, baseline_oracle=0.82, oracle_schedule="step",
                                reference_curves={"default": [0.4 + 0.3 * (1 - math.exp(-t / 5)) for t in range(epochs)],
                                                  "random": [0.3 + 0.3 * (1 - math.exp(-t / 8)) for t in range(epochs)],
                                                  "schedules": {"step": [0.45 + 0.37 * (1 - math.exp(-t / 4)) for t in range(epochs)]}})
        db.add(dataset)
        db.flush()
        now = utcnow()
        for i in range(students):
            name = f"Student {i:03d}"
            student = Student(student_id=f"b{i:03d}", name=name, name_key=name_key(name), created_at=now)
            db.add(student)
            db.flush()
            config = {"width": 64, "depth": 4, "lr": 0.01, "dropout": 0.0, "weight_decay": 0.0}
            run = Run(student_pk=student.id, dataset_id=dataset.id, seed=i, status=ENDED, initial_config=config,
                      config=config, epoch=epochs, actions_used=epochs + 1, best_val_acc=0.0)
            db.add(run)
            db.flush()
            rate, best = rng.uniform(3, 9), 0.0
            for n in range(1, epochs + 1):
                lr_move = rng.choice(["same"] * 6 + ["down", "up"])
                choices = config if n == 1 else ({"lr": lr_move} if lr_move != "same" else {})
                action = ActionRecord(run_id=run.id, index=n, kind="initial" if n == 1 else "continue", choices=choices,
                                      shown={}, status="done", created_at=now)
                db.add(action)
                db.flush()
                val = min(0.95, 0.35 + 0.5 * (1 - math.exp(-n / rate)) + rng.gauss(0, 0.012))
                best = max(best, val)
                db.add(EpochRecord(run_id=run.id, action_id=action.id, number=n, config=config, train_loss=1.5 * math.exp(-n / rate) + 0.2,
                                   train_acc=min(0.99, val + 0.02 * n / epochs), val_loss=1.6 * math.exp(-n / rate) + 0.3,
                                   val_acc=val, diverged=False, seconds=0.1, created_at=now))
                actions += 1
            db.add(ActionRecord(run_id=run.id, index=epochs + 1, kind="done", choices={}, shown={}, status="done", created_at=now))
            actions += 1
            run.best_val_acc = best
        db.commit()
    return actions


def measure(base: str, shot: Path | None = None) -> dict:
    """Sign in and load the analysis page in Chromium: timings (ms) and sizes (bytes)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base + "/staff/login")
        page.fill("#username", "prof")
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        sizes = {}
        page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())) if r.request.resource_type in ("document", "stylesheet", "script") else None)
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            page.goto(base + "/instructor/analysis", wait_until="load")
            # Two animation frames after load: the charts are laid out and painted.
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            total = (time.perf_counter() - started) * 1000
            timing = page.evaluate("() => { const t = performance.getEntriesByType('navigation')[0];"
                                   " return {ttfb: t.responseStart - t.startTime, load: t.loadEventEnd - t.startTime}; }")
            runs.append({"total_ms": round(total), "ttfb_ms": round(timing["ttfb"]), "load_ms": round(timing["load"])})
        lines = page.evaluate("() => document.querySelectorAll('#decisions-table tbody tr').length")
        if shot is not None:
            page.screenshot(path=str(shot), full_page=True)
        browser.close()
    return {"runs": runs, "decision_rows_in_page": lines, "bytes": sizes}


def main() -> None:
    """Fill, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--shot", type=Path, help="also save a full-page screenshot here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/render.sqlite3"
        actions = fill(url, args.students, args.epochs, args.seed)
        env = hyperquest_env(database_url=url, dataset_size="tiny", pool_size=1, device="cpu", baseline_epochs=2)
        process, base = start_server(env)
        try:
            result = {"students": args.students, "epochs": args.epochs, "action_rows": actions, **measure(base, args.shot)}
        finally:
            process.stop()
    best = min(r["total_ms"] for r in result["runs"])
    html = sum(v for k, v in result["bytes"].items() if "/instructor/analysis" in k)
    static = sum(v for k, v in result["bytes"].items() if "/static/" in k)
    result.update({"best_total_ms": best, "html_bytes": html, "static_bytes": static})
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
