"""A real browser opens the tearsheet: headless Chromium, offline, every chart rendered.

Drives Chromium over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands
on fd 3, replies on fd 4, NUL-terminated JSON), so the test needs nothing but the browser.
It loads the tearsheet of the issue's sample run from a `file://` URL, records console
errors, uncaught exceptions, log errors and every non-local request, waits until each chart
listed in `<body data-charts>` has drawn its SVG, and saves a full-page screenshot.
Skips only when no Chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.data import load_sample
from tradefolio.reporting.run_folder import write_backtest_run

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
)
TIMEOUT = 60.0
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

CHART_STATUS = """
(() => {
  const keys = document.body.dataset.charts.split(" ");
  return JSON.stringify(keys.map((key) => {
    const div = document.getElementById("chart-" + key);
    return {
      key: key,
      found: div !== null,
      svg: div ? div.querySelectorAll("svg.main-svg").length : 0,
      traces: div && div.data ? div.data.length : 0,
      drawn: div ? div.querySelectorAll(".trace, .hm, .heatmaplayer image").length : 0,
    };
  }));
})()
"""


def find_chromium() -> str | None:
    """The Chromium executable on PATH (or Debian's usual place), if any."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        # Move the child's ends above fd 10 so the dup2 to 3 and 4 cannot clobber each other.
        child_read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_read)
        os.close(from_browser_write)

        def wire_pipe() -> None:
            os.dup2(child_read, 3)
            os.dup2(child_write, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=wire_pipe,
        )
        os.close(child_read)
        os.close(child_write)
        self._writer = os.fdopen(to_browser_write, "wb", buffering=0)
        self._reader = os.fdopen(from_browser_read, "rb", buffering=0)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Condition()
        threading.Thread(target=self._read_loop, daemon=True).start()

    def _read_loop(self) -> None:
        buffer = b""
        while chunk := self._reader.read(65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        self._replies[message["id"]] = message
                        self._lock.notify_all()
                else:
                    self.events.put(message)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its reply (raises on a protocol error)."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        self._writer.write(json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._lock:
            while self._next_id not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._lock.wait(remaining):
                    raise TimeoutError(f"no reply to {method} within {TIMEOUT:.0f} s")
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._writer.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("TRADEFOLIO_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is missing: `make test` installs it (scripts/ensure-chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    devtools = DevTools(executable, tmp_path / "profile")
    try:
        yield devtools
    finally:
        devtools.close()


@pytest.fixture(scope="module")
def sample_tearsheet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tearsheet of the issue's sample run (SMA 20/50, 10% per entry, S&P 500 benchmark)."""
    sample = load_sample()
    config = BacktestConfig.create(strategy="sma-cross", fast=20, slow=50, sizer="weight")
    result = run_config(config, sample.prices)
    folder = write_backtest_run(
        result,
        config.model_dump(),
        closes=sample.prices,
        benchmark=sample.benchmark,
        out_dir=tmp_path_factory.mktemp("runs"),
        png=False,
    )
    assert folder.tearsheet is not None
    return folder.tearsheet


def _problems(event: dict[str, Any]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return f"uncaught: {details.get('exception', {}).get('description', details['text'])}"
    if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        return f"console.{params['type']}: {text}"
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        return f"log: {params['entry']['text']} {params['entry'].get('url', '')}"
    if method == "Network.requestWillBeSent":
        url = params["request"]["url"]
        if not url.startswith(LOCAL_SCHEMES):
            return f"network request (the page must work offline): {url}"
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_tearsheet_renders_every_chart_offline_in_chromium(
    browser: DevTools, sample_tearsheet: Path, tmp_path: Path
) -> None:
    target = browser.send("Target.createTarget", url="about:blank")["targetId"]
    session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime", "Log", "Page", "Network"):
        browser.send(f"{domain}.enable", session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=1280,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.send("Page.navigate", session, url=sample_tearsheet.as_uri())

    problems: list[str] = []
    loaded = False
    status: list[dict[str, Any]] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            while True:
                event = browser.events.get_nowait()
                loaded = loaded or event.get("method") == "Page.loadEventFired"
                problem = _problems(event)
                if problem:
                    problems.append(problem)
        except queue.Empty:
            pass
        if loaded:
            reply = browser.send(
                "Runtime.evaluate", session, expression=CHART_STATUS, returnByValue=True
            )
            status = json.loads(reply["result"]["value"])
            if all(chart["svg"] and chart["traces"] and chart["drawn"] for chart in status):
                break
        time.sleep(0.2)

    assert loaded, "the page never fired its load event"
    assert problems == []
    keys = [chart["key"] for chart in status]
    assert keys == [
        "equity",
        "drawdown",
        "monthly_returns",
        "rolling_sharpe",
        "rolling_beta",
        "weights",
        "turnover",
        "exposure",
    ]
    not_drawn = [chart for chart in status if not (chart["svg"] and chart["traces"])]
    assert not_drawn == []
    assert all(chart["drawn"] for chart in status), status

    metrics = browser.send("Page.getLayoutMetrics", session)["cssContentSize"]
    shot = browser.send(
        "Page.captureScreenshot",
        session,
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": 1280, "height": metrics["height"], "scale": 1},
    )
    image = base64.b64decode(shot["data"])
    path = tmp_path / "tearsheet.png"
    path.write_bytes(image)
    width, height = _png_size(image)
    assert width == 1280 and height > 3000  # the whole page, all charts stacked
    assert len(image) > 100_000  # drawn, not blank
