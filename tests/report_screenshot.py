"""Screenshots of a Snakemake HTML report in headless Chromium (`make test-report`).

    python tests/report_screenshot.py results/report.html results/report

writes `results/report-home.png` (the landing page: workflow description, rule graph),
`results/report-gallery.png` (the first run's category opened on its label-issue gallery) and
`results/report-who-won.png` (*Who won* opened on its figure). The report is a JavaScript app
without URLs for its views, so the later shots load a copy of the report with a few lines
appended that open that view through the app's own functions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OPEN_FIGURE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const path = Object.keys(results).find(p => p.endsWith("%s"));
  const category = Object.keys(categories).find(c => Object.values(categories[c]).some(l => l.includes(path)));
  const subcategory = Object.keys(categories[category])[0];
  app.setView({navbarMode: "subcategory", category: category, subcategory: subcategory,
               content: "img", contentPath: results[path].data_uri, resultPath: path});
}, 300));
</script>
"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--virtual-time-budget=15000"]


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("no chromium found: apt-get install chromium (make test-report installs it)")


def shoot(html: Path, png: Path, size=(1600, 1000)) -> None:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
               f"--screenshot={png}", html.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)
    if not png.exists() or png.stat().st_size == 0:
        sys.exit(f"chromium wrote no screenshot {png}")


def shoot_figure(report: Path, suffix: str, png: Path, size) -> None:
    """`report` opened on the figure whose path ends with `suffix`."""
    with tempfile.TemporaryDirectory() as tmp:
        opened = Path(tmp) / "report.html"
        head, _, tail = report.read_text().rpartition("</body>")  # the last one: scripts contain the string too
        opened.write_text(head + OPEN_FIGURE % suffix + "</body>" + tail)
        shoot(opened, png, size=size)


def main(report: str, prefix: str) -> None:
    report = Path(report)
    shots = [Path(f"{prefix}-{name}.png") for name in ("home", "gallery", "who-won")]
    shoot(report, shots[0])
    shoot_figure(report, "/figures/label_issues.png", shots[1], (2200, 2150))  # the 48-item gallery beside the menu
    shoot_figure(report, "results/figures/accuracy.png", shots[2], (1600, 1000))
    print("screenshots: " + " ".join(map(str, shots)))


if __name__ == "__main__":
    main(*sys.argv[1:])
