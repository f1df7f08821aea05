"""Accessibility and layout checks in a page: axe-core (WCAG 2.0-2.2 A/AA rules) and sideways scrolling.

axe-core is the npm package pinned in tests/a11y/package.json (`make axe` installs it); the tests
inject it into the page, the app never serves it. Contexts that run it bypass the pages' Content
Security Policy, which would refuse an injected script.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

AXE_JS = Path(__file__).resolve().parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
#: The rule sets the tests hold every page to.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


def axe_source() -> str:
    """axe-core's script; a clear failure (not a skip) when it is not installed."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `make axe` (npm install of the pinned axe-core)")
    return AXE_JS.read_text()


def axe_violations(page: Page) -> list[dict]:
    """axe's violations on the page as it is now: [{"id", "impact", "help", "targets"}]."""
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(content=axe_source())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
                           WCAG_TAGS)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [", ".join(n["target"]) for n in v["nodes"]][:5]} for v in result["violations"]]


def sideways_overflow(page: Page) -> dict | None:
    """None when the page does not scroll sideways; else its width and the widest elements sticking out."""
    return page.evaluate("""() => {
        const view = document.documentElement.clientWidth;
        const width = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
        if (width <= view) return null;
        const out = [];
        for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > view + 1 && r.width > 0) {
                let inside = false;
                for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
                    const s = getComputedStyle(p);
                    if (s.overflowX === 'auto' || s.overflowX === 'scroll' || s.overflowX === 'hidden') { inside = true; break; }
                }
                if (!inside) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                                      (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') +
                                      ' right=' + Math.round(r.right));
            }
        }
        return {width: width, view: view, sticking_out: out.slice(0, 8)};
    }""")
