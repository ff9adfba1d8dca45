"""The report page: a small string template (no JS, no network), filled in by ``perception.report.build``."""

from __future__ import annotations

from string import Template

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
.figures { display: flex; flex-wrap: wrap; gap: 1.2em; margin: .6em 0; }
.figure { background: #f6f6f6; padding: .5em .8em; border-radius: 4px; min-width: 7em; }
.figure b { display: block; font-size: 1.3em; }
.note { color: #777; font-style: italic; }
.warn { color: #a33; }
table { border-collapse: collapse; font-size: .9em; } td, th { padding: .2em .6em; border-bottom: 1px solid #eee;
  text-align: left; vertical-align: top; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.thumbs { display: flex; flex-wrap: wrap; gap: .8em; } .thumbs figure { margin: 0; }
.thumbs img { display: block; width: 320px; height: auto; border: 1px solid #ccc; }
.thumbs figcaption { font-size: .85em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .8em; max-height: 30em; }
code { word-break: break-all; }
</style>
</head>
<body>
<h1>$title</h1>
<div class="figures">$figures</div>
$warnings
<section id="latency"><h2>Latency per stage and FPS</h2>$latency</section>
<section id="detections"><h2>Detections per class</h2>$detections</section>
<section id="lanes"><h2>Lane offset and width</h2>$lanes</section>
<section id="plan"><h2>Planner actions and vetoes</h2>$plan</section>
<section id="thumbnails"><h2>Frames with the most detections or vetoes</h2>$thumbnails</section>
<section id="settings"><h2>Settings and weights</h2>$settings</section>
<p class="note">Built by python -m perception.report from $source in $build_s s.</p>
</body>
</html>
""")
