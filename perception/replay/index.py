"""OUT/index.html: one row per input with its key figures and a link to its report.html, sortable by column."""

from __future__ import annotations

import html
from string import Template
from typing import Any

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Fleet replay: $title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: .9em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e4e4e4; text-align: left; }
th { cursor: pointer; background: #f3f3f3; user-select: none; } th:hover { background: #e6e6e6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #a33; } .note { color: #777; }
</style>
</head>
<body>
<h1>Fleet replay: $title</h1>
<p>$totals</p>
<table id="fleet">
<thead><tr>$head</tr></thead>
<tbody>
$rows
</tbody>
</table>
<p class="note">Click a column header to sort (again to reverse). fleet.json holds every figure.</p>
<script>
document.querySelectorAll("#fleet th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], asc = th.dataset.dir !== "asc";
    th.parentNode.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? "asc" : "desc";
    var key = function (tr) { var c = tr.cells[col]; return c.dataset.v !== undefined ? c.dataset.v : c.textContent; };
    var rows = Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? d : -d;
    });
    rows.forEach(function (tr) { body.appendChild(tr); });
  });
});
</script>
</body>
</html>
""")

COLUMNS = ("input", "state", "frames", "failed frames", "FPS", "detections", "classes", "ego lane %",
           "plan actions", "wall s", "report", "error")


def _cell(value: Any, *, num: bool = False, sort_value: Any = None) -> str:
    v = "" if value is None else value
    attrs = ' class="num"' if num else ""
    if sort_value is not None:
        attrs += f' data-v="{html.escape(str(sort_value))}"'
    return f"<td{attrs}>{html.escape(str(v))}</td>"


def _row(entry: dict[str, Any]) -> str:
    classes = entry.get("detections_per_class") or {}
    actions = entry.get("plan_actions") or {}
    lane = entry.get("ego_lane_fraction")
    report = entry.get("report")
    link = f'<td><a href="{html.escape(report)}">report</a></td>' if report else '<td class="note">-</td>'
    state = entry.get("state", "?")
    return (f'<tr class="{html.escape(state)}">' + _cell(entry.get("input")) + _cell(state)
            + _cell(entry.get("frames_processed"), num=True) + _cell(entry.get("frames_failed"), num=True)
            + _cell(entry.get("fps"), num=True) + _cell(sum(classes.values()) if classes else None, num=True)
            + _cell(", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1])))
            + _cell(None if lane is None else round(100 * lane), num=True)
            + _cell(", ".join(f"{k} {v}" for k, v in sorted(actions.items(), key=lambda kv: -kv[1])))
            + _cell(entry.get("wall_time_s"), num=True) + link + _cell(entry.get("error")) + "</tr>")


def index_html(fleet: dict[str, Any]) -> str:
    """The page for a fleet.json dict."""
    t = fleet.get("totals") or {}
    totals = (f"{t.get('inputs', 0)} inputs: {t.get('finished', 0)} finished, {t.get('skipped', 0)} skipped "
              f"(finished before), {t.get('failed', 0)} failed, {t.get('interrupted', 0)} interrupted; "
              f"{t.get('frames_processed', 0)} frames, {t.get('detections', 0)} detections; "
              f"wall time {fleet.get('wall_time_s', '?')} s with {fleet.get('workers', '?')} workers")
    return PAGE.substitute(title=html.escape(str(fleet.get("output", ""))), totals=html.escape(totals),
                           head="".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS),
                           rows="\n".join(_row(e) for e in fleet.get("inputs", [])))
