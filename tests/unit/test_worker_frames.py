"""Records cross between processes whole: the workers' frame encoding round-trips them."""

from __future__ import annotations

import pickle

from aioscout._models import DnsAnswer, DnsResult, ErrorInfo, ErrorKind
from aioscout.engine.frames import _DISPATCH
from aioscout.engine.frames import dumps as _dumps


def test_records_round_trip_through_a_frame() -> None:
    found = DnsResult(
        input="www",
        name="www.lab.test",
        types=["A", "CNAME"],
        answers=[
            DnsAnswer("www.lab.test", "CNAME", 60, "web.lab.test"),
            DnsAnswer("web.lab.test", "A", 60, "127.0.0.7"),
        ],
        cname_chain=["web.lab.test"],
        rcode="NOERROR",
        resolver="127.0.0.1:53",
        attempts=2,
        wildcard=True,
        time_ms=1.25,
    )
    missing = DnsResult(input="x", name="x.lab.test", error=ErrorInfo(ErrorKind.DNS, "NXDOMAIN"))
    frame = ("settled", ([("dns", [3, 4])], [(1, found), (2, missing)]))
    back = pickle.loads(_dumps(frame))
    assert back == frame
    assert back[1][1][0][1].answers[0] == found.answers[0]
    assert {DnsResult, DnsAnswer, ErrorInfo} <= set(_DISPATCH)
