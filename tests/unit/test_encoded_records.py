"""Records encoded in worker processes: which sinks take them, and that the bytes
written are the ones the sink would have written itself."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aioscout._models import ErrorInfo, ErrorKind, HttpResult, Record
from aioscout.engine.protocols import TakesEncoded
from aioscout.engine.runner import shared_encoder
from aioscout.sinks.csv import CsvSink
from aioscout.sinks.jsonl import JsonlSink, encode_lines

RECORDS: list[Record] = [
    HttpResult(input="a", status=200, title="caf\u00e9"),
    HttpResult(input="b", error=ErrorInfo(ErrorKind.REFUSED, "refused")),
    HttpResult(input="c\udcff", status=404),  # a lone surrogate: replaced, not lost
]


class Collecting:
    """A sink that takes records only."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def write(self, records: Sequence[Record]) -> None:
        self.records += records

    async def flush(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def test_jsonl_sinks_share_one_picklable_encoder(tmp_path: Path) -> None:
    a, b = JsonlSink(tmp_path / "a.jsonl"), JsonlSink(tmp_path / "b.jsonl")
    assert isinstance(a, TakesEncoded)
    assert shared_encoder([a, b]) is encode_lines


def test_no_encoder_when_a_sink_takes_only_records(tmp_path: Path) -> None:
    jsonl = JsonlSink(tmp_path / "a.jsonl")
    assert shared_encoder([jsonl, Collecting()]) is None
    assert shared_encoder([jsonl, CsvSink(tmp_path / "a.csv")]) is None
    assert shared_encoder([]) is None


async def test_encoded_lines_write_what_write_writes(tmp_path: Path) -> None:
    async with JsonlSink(tmp_path / "plain.jsonl") as plain:
        await plain.write(RECORDS)
    async with JsonlSink(tmp_path / "encoded.jsonl") as encoded:
        await encoded.write_encoded(b"".join(encode_lines(RECORDS)), len(RECORDS))
        assert encoded.position() == (tmp_path / "plain.jsonl").stat().st_size
    assert (tmp_path / "encoded.jsonl").read_bytes() == (tmp_path / "plain.jsonl").read_bytes()
    assert len((tmp_path / "encoded.jsonl").read_bytes().splitlines()) == len(RECORDS)
