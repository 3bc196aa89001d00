"""Ask a real Envoy binary whether it would accept a config, before any proxy is sent it."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_LOG_PREFIX = re.compile(r"^\[[^\]]*\](\[[^\]]*\])*\s*")


@dataclass(frozen=True, slots=True)
class EnvoyVerdict:
    accepted: bool
    message: str  # Envoy's own words when it rejects


def find_envoy(explicit: str | None = None) -> str | None:
    """The Envoy to validate with: ``explicit``, else the one beside this Python, else on PATH."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "envoy"
    if beside.is_file():
        return str(beside)
    return shutil.which("envoy")


async def validate_bootstrap(envoy: str, bootstrap_json: str, timeout: float = 30.0) -> EnvoyVerdict:
    """Run ``envoy --mode validate`` on a static bootstrap (JSON text); the config is never started."""
    with tempfile.TemporaryDirectory(prefix="gitxds-validate-") as tmp:
        path = Path(tmp) / "bootstrap.json"
        path.write_text(bootstrap_json)
        proc = await asyncio.create_subprocess_exec(
            envoy,
            "--mode",
            "validate",
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "--log-level",
            "critical",
            "-c",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return EnvoyVerdict(False, f"envoy --mode validate timed out after {timeout:.0f}s")
    text = out.decode(errors="replace").strip()
    if proc.returncode == 0:
        return EnvoyVerdict(True, "")
    return EnvoyVerdict(False, _essential(text, str(path)))


def _essential(text: str, path: str) -> str:
    """Envoy's reason without its log prefix or our temporary file's name."""
    marker = f"error initializing configuration '{path}': "
    all_lines = text.splitlines()
    for index in range(len(all_lines) - 1, -1, -1):
        if marker in all_lines[index]:
            reason = all_lines[index].split(marker, 1)[1].strip()
            # On a proto constraint error Envoy prints a link, the whole offending message, then
            # its verdict on the last line: keep only the verdict.
            tail = [ln.strip(" :") for ln in all_lines[index + 1 :] if ln.strip(" :")]
            return tail[-1] if reason.startswith("goo.gle/") and tail else reason
    lines = [_LOG_PREFIX.sub("", ln).replace(path, "bootstrap") for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[-3:]) if lines else "rejected by Envoy"
