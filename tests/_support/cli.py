"""Running ``aioscout`` in a subprocess and reading what it wrote."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Run", "aioscout", "jsonl"]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


async def aioscout(*args: str, timeout: float = 30.0) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aioscout",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
