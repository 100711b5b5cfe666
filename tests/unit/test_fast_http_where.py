"""The fast path's URL parts: by slicing a simple URL, always what yarl gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from aioscout.probes._fast_http import _SIMPLE_URL, _Where


def _parts(where: _Where) -> tuple[str, str, str, int, str, str]:
    return (where.text, where.scheme, where.host, where.port, where.path_qs, where.authority)


def _yarl_parts(text: str) -> tuple[str, str, str, int, str, str]:
    return _parts(_Where.of(URL(text)))


_hosts = st.sampled_from(
    ["site-00001.lab.test", "a.b", "h", "x-y.z.", "127.0.0.1", "1.2.3.4", "Up.Case", "xn--d-a.b"]
)
_ports = st.sampled_from(["", ":80", ":443", ":81", ":8443", ":08", ":65535"])
_tails = st.text(alphabet="abAB09-._~/?=&%:+#@!; ", max_size=12)


@given(st.sampled_from(["http", "https"]), _hosts, _ports, _tails)
def test_parts_match_yarl(scheme: str, host: str, port: str, tail: str) -> None:
    text = f"{scheme}://{host}{port}/{tail}"
    try:
        want = _yarl_parts(text)
    except ValueError:
        return  # yarl refuses it; so does the slower branch of parse()
    assert _parts(_Where.parse(text)) == want


@pytest.mark.parametrize(
    "text",
    [
        "http://site-00001.lab.test:8080/",
        "https://site-00001.lab.test/",
        "http://127.0.0.1:8080/a/b.html?x=1&y=2",
        "https://10.0.0.1:8443/~u/",
    ],
)
def test_plain_urls_take_the_slicing_branch(text: str) -> None:
    assert _SIMPLE_URL.fullmatch(text) is not None
    where = _Where.parse(text)
    assert where._url is None  # no yarl URL built
    assert _parts(where) == _yarl_parts(text)


@pytest.mark.parametrize(
    "text",
    [
        "http://h.test/?",  # yarl drops an empty query
        "http://h.test./",  # yarl drops the trailing dot from the Host value
        "http://h.test:80/",  # the scheme's default port
        "http://h.test/a/../b",  # a dot segment
        "http://h.test/%7e",  # a percent escape
        "http://H.test/",  # upper case host
    ],
)
def test_urls_yarl_would_change_go_through_yarl(text: str) -> None:
    where = _Where.parse(text)
    assert where._url is not None
    assert _parts(where) == _yarl_parts(text)
