"""report.html and index.html in a real browser: headless Chromium renders the plots and thumbnails with a
non-zero size, reports no console errors, and sorts the fleet index by a click. Screenshots go to the test's tmp
folder. Needs a Chromium binary (Debian: apt-get install chromium); skips with the reason without one.

No Selenium: Chromium's own --dump-dom runs a probe script appended to a copy of each page, which writes what it
measured into the DOM it dumps.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CLIP, need, run_cli
from perception.replay.fleet import Job, write_fleet, run_stats

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e.target.src || e)); },
                        true);
window.addEventListener("load", function () {
  var sizes = Array.from(document.querySelectorAll("svg, img")).filter(function (e) {
    return !e.parentNode.closest("svg");  // top-level plots and images, not an SVG's inner parts
  }).map(function (e) { var r = e.getBoundingClientRect(); return [e.tagName.toLowerCase(), r.width, r.height]; });
  var out = {sizes: sizes, errors: window.__errors, sorts: []};
  var th = document.querySelector("#fleet th");
  if (th) {
    var firstColumn = function () {
      return Array.from(document.querySelectorAll("#fleet tbody tr")).map(function (tr) {
        return tr.cells[0].textContent; });
    };
    th.click(); out.sorts.push(firstColumn());
    th.click(); out.sorts.push(firstColumn());
  }
  var pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on this machine (Debian: apt-get install chromium): the browser check cannot run")


def _browser(page: Path, tmp: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=10000", *flags, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)


def _probe(page: Path, tmp: Path) -> dict:
    """Load a copy of ``page`` with the probe appended; return what it measured; also save a screenshot."""
    copy = tmp / f"probe-{page.name}"  # the page is self-contained: a copy anywhere renders the same
    copy.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    proc = _browser(copy, tmp, "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, flags=re.S)
    assert found, f"the probe did not run: {proc.stderr[-2000:]}"
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                        .replace("&gt;", ">"))
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and
               re.search(r"error|fail|uncaught", line, re.I)]
    result["console_errors"] = console
    shot = tmp / f"{page.stem}.png"
    _browser(page, tmp, f"--screenshot={shot}", "--window-size=1200,2400")
    assert shot.is_file() and shot.stat().st_size > 10_000, "no screenshot"
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    _chromium()
    out = tmp_path_factory.mktemp("browser") / "clip"
    proc = run_cli("perception.run", "--source", str(need(CLIP)), "--output", str(out), "--max-frames", "40",
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out


def test_report_renders_in_chromium(run_dir, tmp_path):
    result = _probe(run_dir / "report.html", tmp_path)
    assert not result["errors"] and not result["console_errors"], result
    svgs = [s for s in result["sizes"] if s[0] == "svg"]
    imgs = [s for s in result["sizes"] if s[0] == "img"]
    assert len(svgs) == 4 and len(imgs) >= 3, result["sizes"]
    assert all(w > 300 and h > 50 for _, w, h in svgs + imgs), result["sizes"]


def test_fleet_index_renders_and_sorts_in_chromium(run_dir, tmp_path):
    out = run_dir.parent
    jobs = [Job("zeta.mp4", out / "clip"), Job("alpha.mp4", out / "alpha")]
    results = {jobs[0]: {"state": "finished", "error": None, **run_stats(jobs[0].out_dir)},
               jobs[1]: {"state": "failed", "error": "error: alpha.mp4: not a video"}}
    write_fleet(out, jobs, results, wall_s=1.0, workers=1, threads=2, address=None, run_flags=[],
                interrupted=False)
    result = _probe(out / "index.html", tmp_path)
    assert not result["errors"] and not result["console_errors"], result
    assert result["sorts"] == [["alpha.mp4", "zeta.mp4"], ["zeta.mp4", "alpha.mp4"]]
    assert 'href="clip/report.html"' in (out / "index.html").read_text()
