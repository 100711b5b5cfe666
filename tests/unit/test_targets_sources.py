"""Line sources: one str per physical line, bounded memory, lazy reads."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioscout._exceptions import ConfigError, InvalidTarget
from aioscout.targets import (
    file_lines,
    iter_lines,
    open_source,
    parse_http_target,
    stdin_lines,
    stream_lines,
)
from aioscout.targets.sources import Want, _decode, _decode_lines, record_target


async def collect(lines: AsyncIterator[str]) -> list[str]:
    return [line async for line in lines]


async def read_file(tmp_path: Path, data: bytes, **kwargs: int) -> list[str]:
    f = tmp_path / "in.txt"
    f.write_bytes(data)
    async with asyncio.timeout(5):
        return await collect(file_lines(str(f), **kwargs))


async def test_one_str_per_physical_line(tmp_path: Path) -> None:
    data = b"a.com\n\n  \n# c\nb.com\n"
    assert await read_file(tmp_path, data) == ["a.com", "", "  ", "# c", "b.com"]


async def test_no_trailing_newline_and_empty_file(tmp_path: Path) -> None:
    assert await read_file(tmp_path, b"a\nb") == ["a", "b"]
    assert await read_file(tmp_path, b"") == []
    assert await read_file(tmp_path, b"\n") == [""]
    assert await read_file(tmp_path, b"\n\n") == ["", ""]


async def test_crlf_and_bom(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfa.com\r\nb.com\r\n\r\nc.com\rd\n"
    assert await read_file(tmp_path, data) == ["a.com", "b.com", "", "c.com\rd"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 64])
@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"\xef\xbb\xbfa.com\nb.com", ["a.com", "b.com"]),
        (b"\xef\xbb\xbf", []),
        (b"\xef\xbb", ["\ufffd"]),  # part of a BOM and nothing else: a line of its own
        (b"\xefa\n", ["\ufffda"]),
    ],
)
async def test_a_bom_split_over_small_reads_is_still_dropped(
    data: bytes, lines: list[str], chunk: int
) -> None:
    async with asyncio.timeout(5):
        got = await collect(stream_lines(io.BytesIO(data), max_line=100, chunk_size=chunk))
    assert got == lines


async def test_binary_garbage_becomes_replacement_and_is_rejected(tmp_path: Path) -> None:
    data = b"ok.com\n\xff\xfe\x00garbage\n\xc3\x28.com\nexample\x00.com\nlast.com\n"
    lines = await read_file(tmp_path, data)
    assert len(lines) == 5
    assert lines[0] == "ok.com" and lines[-1] == "last.com"
    for bad in lines[1:4]:
        with pytest.raises(InvalidTarget):
            parse_http_target(bad)
    assert "\ufffd" in lines[1] and "\ufffd" in lines[2]


async def test_one_megabyte_line_is_cut_and_the_rest_skipped(tmp_path: Path) -> None:
    data = b"a.com\n" + b"x" * (1 << 20) + b"\nb.com\n" + b"y" * (1 << 20)
    lines = await read_file(tmp_path, data)
    assert [len(s) for s in lines] == [5, 8193, 5, 8193]
    assert lines[0] == "a.com" and lines[2] == "b.com"
    with pytest.raises(InvalidTarget, match="longer than 8192"):
        parse_http_target(lines[1])


async def test_long_line_limit_counts_characters_not_bytes(tmp_path: Path) -> None:
    # 100 characters of 3 bytes each: 300 bytes, within a 100-character limit.
    ok = "例" * 100
    lines = await read_file(tmp_path, f"{ok}\n{ok}例\nz".encode(), max_line=100)
    assert lines == [ok, ok + "例", "z"]
    lines = await read_file(tmp_path, ("例" * 5000 + "\nz").encode(), max_line=100)
    assert [len(s) for s in lines] == [101, 1]


async def test_lines_split_across_small_reads() -> None:
    data = b"alpha\r\nbeta\n" + b"q" * 50 + b"\ngamma"
    stream = io.BufferedReader(io.BytesIO(data), buffer_size=3)
    async with asyncio.timeout(5):
        got = await collect(stream_lines(stream, max_line=10, chunk_size=3))
    assert got == ["alpha", "beta", "q" * 11, "gamma"]


async def test_a_large_file_is_streamed_lazily(tmp_path: Path) -> None:
    f = tmp_path / "big.txt"
    with f.open("wb") as out:
        out.writelines(b"host%d.example\n" % i for i in range(200_000))
    size = f.stat().st_size
    with f.open("rb") as fh:
        lines = stream_lines(fh)
        async with asyncio.timeout(5):
            first = [await anext(lines) for _ in range(5)]
            await lines.aclose()
        assert first == [f"host{i}.example" for i in range(5)]
        assert 0 < fh.tell() <= 2 * 64 * 1024 < size


async def test_file_lines_counts_every_line_of_a_large_file(tmp_path: Path) -> None:
    f = tmp_path / "big.txt"
    with f.open("wb") as out:
        out.writelines(b"10.0.%d.%d\n" % divmod(i, 256) for i in range(20_000))
    count = 0
    async with asyncio.timeout(5):
        async for line in file_lines(str(f)):
            count += 1
            assert line.startswith("10.0.")
    assert count == 20_000


async def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read input file"):
        await collect(file_lines(str(tmp_path / "nope.txt")))
    with pytest.raises(ConfigError, match="cannot read input file"):
        open_source([], str(tmp_path / "nope.txt"))
    with pytest.raises(ConfigError, match="is a directory"):
        open_source([], str(tmp_path))


async def test_stdin_from_a_pipe_delivers_lines_as_they_are_written() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as reader:
        lines = stdin_lines(stream=reader)
        try:
            os.write(write_fd, b"first.com\nsec")
            async with asyncio.timeout(5):
                # Arrives without the writer closing and with far less than 64 KiB.
                assert await anext(lines) == "first.com"
                os.write(write_fd, b"ond.com\n\xff\n")
                os.close(write_fd)
                write_fd = -1
                assert await collect(lines) == ["second.com", "\ufffd"]
        finally:
            if write_fd >= 0:
                os.close(write_fd)
            await lines.aclose()


async def test_stdin_reader_abandoned_mid_read_does_not_block() -> None:
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")
    try:
        lines = stdin_lines(stream=reader)
        task_done = False

        async def consume() -> None:
            nonlocal task_done
            await anext(lines)
            task_done = True

        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(consume())
            await asyncio.sleep(0)
            task.cancel()
        assert not task_done
        await lines.aclose()
    finally:
        os.close(write_fd)  # EOF lets the reader thread finish
        reader.close()


async def test_iter_lines_and_open_source_with_arguments(tmp_path: Path) -> None:
    assert await collect(iter_lines(["a", "", "b"])) == ["a", "", "b"]
    assert await collect(open_source(["a", "b"], None)) == ["a", "b"]
    f = tmp_path / "list.txt"
    f.write_bytes(b"c\nd\n")
    assert await collect(open_source(["a"], str(f))) == ["a", "c", "d"]
    assert await collect(open_source([], str(f))) == ["c", "d"]


class _Tty(io.BytesIO):
    def isatty(self) -> bool:
        return True


async def test_open_source_stdin_rules() -> None:
    piped: BinaryIO = io.BytesIO(b"x.com\ny.com")
    async with asyncio.timeout(5):
        assert await collect(open_source([], None, stdin=piped)) == ["x.com", "y.com"]
        dash: BinaryIO = io.BytesIO(b"z.com\n")
        assert await collect(open_source(["a"], "-", stdin=dash)) == ["a", "z.com"]
    with pytest.raises(ConfigError, match="no targets"):
        open_source([], None, stdin=_Tty())


async def test_a_regular_file_is_read_without_a_thread(tmp_path: Path) -> None:
    import threading

    f = tmp_path / "list.txt"
    f.write_bytes(b"a.example\nb.example\n")
    seen: list[str] = []
    async with asyncio.timeout(5):
        async for line in file_lines(str(f)):
            seen.append(line)
            assert not any(t.name == "aioscout-input" for t in threading.enumerate())
    assert seen == ["a.example", "b.example"]


async def test_a_fifo_is_still_read_in_a_thread(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as out:
            out.write(b"a.example\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    threads: list[bool] = []
    async with asyncio.timeout(5):
        async for line in file_lines(str(fifo)):
            threads.append(any(t.name == "aioscout-input" for t in threading.enumerate()))
            assert line == "a.example"
    writer.join(5)
    assert threads == [True]


@given(
    st.lists(
        st.sampled_from([b"a", b"\n", b"\r", b"\xe4\xbe\x8b", b"\xe4\xbe", b"\xff", b"\xf0\x9f"]),
        max_size=60,
    ),
    st.integers(1, 12),
)
def test_chunk_decode_is_line_by_line_decode(pieces: list[bytes], max_line: int) -> None:
    """Decoding a chunk at once gives exactly what decoding each line of it gives."""
    raw = b"".join(pieces)
    cap = 4 * (max_line + 1)
    expected = [_decode(part, max_line, cap) for part in raw.split(b"\n")]
    assert _decode_lines(raw, max_line, cap) == expected


async def test_open_source_skips_blank_lines_and_comments_of_files(tmp_path: Path) -> None:
    f = tmp_path / "list.txt"
    f.write_bytes(b"a.example\n\n   \n# note\n  # indented\nb.example\n\t\n")
    assert await collect(open_source([], str(f))) == ["a.example", "b.example"]
    # Arguments are explicit: an empty one stays (and is rejected as a target).
    assert await collect(open_source(["", "c"], None)) == ["", "c"]
    only_blank = tmp_path / "blank.txt"
    only_blank.write_bytes(b"\n\n# nothing\n")
    assert await collect(open_source([], str(only_blank))) == []


async def test_open_source_takes_targets_out_of_json_records(tmp_path: Path) -> None:
    f = tmp_path / "records.jsonl"
    f.write_bytes(
        b'{"input":"www","name":"www.example.com","answers":[]}\n'
        b'{"url":"https://a.example:8443/x","host":"10.0.0.1"}\n'
        b'{"host":"b.example","port":"8080"}\n'
        b'{"nope":1}\n'
        b"plain.example\n"
        b"[1, 2]\n"
        b"{broken\n"
    )
    assert await collect(open_source([], str(f))) == [
        "www.example.com",
        "https://a.example:8443/x",
        "b.example:8080",
        '{"nope":1}',
        "plain.example",
        "[1, 2]",
        "{broken",
    ]
    assert await collect(open_source([], str(f), want="name")) == [
        "www.example.com",
        "a.example",
        "b.example",
        '{"nope":1}',
        "plain.example",
        "[1, 2]",
        "{broken",
    ]
    words = await collect(open_source([], str(f), want=None))
    assert words[0].startswith("{")


@pytest.mark.parametrize(
    ("record", "want", "target"),
    [
        ({"url": "http://x.example/"}, "url", "http://x.example/"),
        ({"url": None, "host": "x.example", "port": 81}, "url", "x.example:81"),
        ({"host": "::1", "port": 8443}, "url", "[::1]:8443"),
        ({"host": "x.example", "port": True}, "url", "x.example"),
        ({"input": "y.example"}, "url", "y.example"),
        ({"url": "https://u:p@[::1]:9/a"}, "name", "::1"),
        ({"url": "https://n.example?q"}, "name", "n.example"),
        ({"host": "h.example", "a": ["1.2.3.4"]}, "name", "h.example"),
        ({"name": " "}, "url", None),
        ({}, "name", None),
    ],
)
def test_record_target(record: dict[str, object], want: Want, target: str | None) -> None:
    assert record_target(record, want) == target
