"""The report's PDF: its HTML printed by headless Chromium (Debian's `chromium`, installed by scripts/bootstrap).

The HTML is self-contained, so Chromium runs offline with a throw-away profile; A4 and the margins come
from the document's @page rule.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT = 120.0


class PdfError(RuntimeError):
    pass


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise PdfError("no Chromium found (install the Debian package chromium: scripts/bootstrap)")


def print_pdf(html_file: Path, pdf_file: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="xf-chromium-") as profile:
        command = [
            browser(),
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--no-pdf-header-footer",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf_file.resolve()}",
            html_file.resolve().as_uri(),
        ]
        if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox
            command.insert(1, "--no-sandbox")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium did not print {html_file} within {TIMEOUT:.0f} s") from None
    if done.returncode != 0 or not pdf_file.exists() or pdf_file.stat().st_size == 0:
        raise PdfError(f"Chromium could not print {html_file} (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return pdf_file
