"""`make demo` ends with a report a policy maker reads: the terminal's, and one self-contained HTML
page with charts. Here the demo runs on a small city (as `make demo ARGS=...` would, with its own
Kafka and Redis) and the page it wrote is opened in a real headless browser, Debian's Chromium
(`scripts/bootstrap.sh --browser` installs it; `make test` asks for it): every chart must have
been drawn by the page's script, with marks of a non-zero size.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

SEED, PEOPLE, MONTHS = 7, 300, 4  # the fourth month's index crosses the price-subsidy trigger


class Page(HTMLParser):
    """What the test needs of a page: its root's attributes, its chart figures with the marks
    inside each, and every reference to something outside the page."""

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, str] = {}
        self.figures: list[dict[str, Any]] = []
        self.outside: list[str] = []
        self._open: dict[str, Any] | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.root = a
        for key in ("src", "href"):
            if key in a and not a[key].startswith("#"):
                self.outside.append(f"<{tag} {key}={a[key]}>")
        if tag == "link" or (tag == "script" and "src" in a):
            self.outside.append(f"<{tag}>")
        if tag == "figure" and "chart" in a.get("class", "").split():
            self._open = {"attrs": a, "svg": 0, "marks": 0}
            self.figures.append(self._open)
            self._depth = 0
        if self._open is not None:
            self._depth += 1
            if tag == "svg":
                self._open["svg"] += 1
            if "mark" in a.get("class", "").split():
                self._open["marks"] += 1

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None:
            self._depth -= 1
            if tag == "figure" and self._depth <= 0:
                self._open = None


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Chromium is not installed: scripts/bootstrap.sh --browser installs it")
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The demo run once, on its own Kafka and Redis: its output and the page it wrote."""
    folder = tmp_path_factory.mktemp("demo")
    page = folder / "report.html"
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    args = ["--seed", str(SEED), "--people", str(PEOPLE), "--months", str(MONTHS)]
    run = subprocess.run(
        [sys.executable, "-m", "shebao_devinfra.demo", *args, "--report", str(page)],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
        check=False,
    )
    assert run.returncode == 0, f"the demo failed:\n{run.stdout[-6000:]}\n{run.stderr[-6000:]}"
    return run.stdout, page


def test_the_demo_names_its_report_and_prints_it(demo: tuple[str, Path]) -> None:
    out, page = demo
    assert f"the report as a page (opens offline): {page}" in out
    assert page.is_file()
    for section in (
        "== Report: Changzhou",
        "coverage on 2025-07-31",
        "contributions assessed to t320400 and collected",
        "claims settled and fund paid, by hospital",
        "benefits, assistance and subsidies paid",
        "each fund's income against its spending",
        "latency claim -> answer",
    ):
        assert section in out, section
    assert "CPI 2025-07 +3.4%: price subsidy triggered" in out
    # the platform's figures agree with what the city sent: every claim answered, every
    # collection booked to the fen, a statement per hospital and month, every index accepted
    report = json.loads(page.with_suffix(".json").read_text("utf-8"))
    assert [c for c in report["checks"] if not c["ok"]] == []
    assert report["city"]["months"] == ["2025-04", "2025-05", "2025-06", "2025-07"]
    assert report["performance"]["claims_ms"]["n"] > 0


def test_the_page_is_self_contained(demo: tuple[str, Path]) -> None:
    _, page = demo
    parsed = Page()
    parsed.feed(page.read_text("utf-8"))
    assert parsed.outside == []
    assert len(parsed.figures) >= 8
    # before a browser runs its script, no chart is drawn: what is checked below is the script's
    assert all(f["svg"] == 0 for f in parsed.figures)


def test_the_browser_draws_every_chart(demo: tuple[str, Path], tmp_path: Path) -> None:
    _, page = demo
    chromium = browser()
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # as root, as CI runs
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,900",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-3000:]
    parsed = Page()
    parsed.feed(dom.stdout)
    n = len(parsed.figures)
    assert n >= 8
    assert parsed.root.get("data-charts") == f"drawn {n}/{n}", parsed.root
    for f in parsed.figures:
        a = f["attrs"]
        assert f["svg"] == 1, a
        assert int(a["data-marks"]) > 0, a
        assert int(a["data-width"]) > 0 and int(a["data-height"]) > 0, a
        assert f["marks"] >= int(a["data-marks"]), a
