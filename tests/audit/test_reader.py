"""The binary COPY parser of the leaf reader: any split of the stream gives the same rows."""

from __future__ import annotations

import random
import struct

import pytest

from gateway.audit.reader import _parse_copy

ROWS = [(i, bytes([65 + i % 26]) * (i * 37 % 500), (bytes([i]) * 32 if i % 7 else None)) for i in range(60)]  # fmt: skip


def stream() -> bytes:
    out = bytearray(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    for idx, body, stored in ROWS:
        out += struct.pack(">hiq", 3, 8, idx) + struct.pack(">i", len(body)) + body
        out += struct.pack(">i", -1) if stored is None else struct.pack(">i", 32) + stored
    out += struct.pack(">h", -1)
    return bytes(out)


class FakeConn:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def get_copy_data(self, _async: int) -> tuple[int, memoryview]:
        if not self.chunks:
            return -1, memoryview(b"")
        chunk = self.chunks.pop(0)
        return len(chunk), memoryview(chunk)


@pytest.mark.parametrize("seed", range(20))
def test_any_split_of_the_stream_parses_the_same(seed: int) -> None:
    data, rng, chunks, pos = stream(), random.Random(seed), [], 0
    while pos < len(data):
        step = rng.choice([1, 2, 7, 19, 100, 1000, 5000])
        chunks.append(data[pos : pos + step])
        pos += step
    assert list(_parse_copy(FakeConn(chunks))) == ROWS
