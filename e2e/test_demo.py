"""``make demo`` (the main job) on the bundled example: model servers, gitxds serve and a real Envoy.

``--smoke`` sends the example requests and exits: a known API key is served by a chat model, an
unknown one is refused by the authorization server, recommendations answer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import free_port

REPO = Path(__file__).resolve().parents[1]


def test_the_demo_serves_the_example_through_envoy() -> None:
    command = [sys.executable, "-m", "gitxds.demo", str(REPO / "examples" / "ai-gateway"), "--smoke"]
    command += ["--xds-port", str(free_port()), "--admin-port", str(free_port())]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "chat with a known key: 200 from chat-v" in output
    assert "chat with an unknown key: 403" in output
    assert "chat-mini by the body's model: 200 from chat-mini" in output
    assert "recommendations: 200 from recommendations" in output
    assert "demo-provider-credential" not in output  # the demo's secret never shows
