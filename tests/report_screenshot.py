"""Screenshots of a Snakemake HTML report in headless Chromium (`make test-report`).

    python tests/report_screenshot.py results/report.html results/report

writes `results/report-home.png` (the landing page: workflow description, rule graph) and
`results/report-gallery.png` (the first run's category opened on its label-issue gallery). The
report is a JavaScript app without URLs for its views, so the second shot loads a copy of the
report with a few lines appended that open that view through the app's own functions.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OPEN_GALLERY = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const path = Object.keys(results).find(p => p.endsWith("/figures/label_issues.png"));
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


def main(report: str, prefix: str) -> None:
    report = Path(report)
    home, gallery = Path(f"{prefix}-home.png"), Path(f"{prefix}-gallery.png")
    shoot(report, home)
    with tempfile.TemporaryDirectory() as tmp:
        opened = Path(tmp) / "report.html"
        head, _, tail = report.read_text().rpartition("</body>")  # the last one: scripts contain the string too
        opened.write_text(head + OPEN_GALLERY + "</body>" + tail)
        shoot(opened, gallery, size=(2200, 2150))  # the whole 48-item gallery beside the menu
    print(f"screenshots: {home} {gallery}")


if __name__ == "__main__":
    main(*sys.argv[1:])
