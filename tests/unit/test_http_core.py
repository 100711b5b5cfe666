"""The redirect core every HTTP client path shares: loop key, hop cap, next hop, stripping."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict
from yarl import URL

from aioscout._models import ErrorKind
from aioscout.probes._errors import ProbeError
from aioscout.probes._http_core import (
    RedirectChain,
    cross_origin_names,
    parse_set_cookies,
    redirected_method,
    same_origin,
)

HERE = URL("http://a.test:8080/start")


def _headers() -> CIMultiDict[str]:
    return CIMultiDict(
        [
            ("Authorization", "Bearer t"),
            ("X-Api-Key", "k"),
            ("User-Agent", "mine"),
            ("Accept", "*/*"),
        ]
    )


def test_a_repeated_request_is_a_loop() -> None:
    chain = RedirectChain(10, _headers())
    chain.enter("http://a.test:8080/x", "c=1")
    chain.enter("http://a.test:8080/x", "c=2")  # other cookies: another request
    with pytest.raises(ProbeError) as caught:
        chain.enter("http://a.test:8080/x", "c=1")
    assert caught.value.kind is ErrorKind.REDIRECT_LOOP


def test_the_hop_past_the_cap_is_recorded_then_refused() -> None:
    chain = RedirectChain(1, _headers())
    assert chain.next(str(HERE), HERE, 302, "/one", follow=True) == URL("http://a.test:8080/one")
    with pytest.raises(ProbeError) as caught:
        chain.next(
            "http://a.test:8080/one", URL("http://a.test:8080/one"), 302, "/two", follow=True
        )
    assert caught.value.kind is ErrorKind.TOO_MANY_REDIRECTS
    assert [hop.location for hop in chain.hops] == ["/one", "/two"]


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://a.test/1", "javascript:x"])
def test_other_schemes_are_blocked_and_recorded(location: str) -> None:
    chain = RedirectChain(10, _headers())
    with pytest.raises(ProbeError) as caught:
        chain.next(str(HERE), HERE, 302, location, follow=True)
    assert caught.value.kind is ErrorKind.BLOCKED_SCHEME
    assert chain.hops[-1].location == location


def test_a_final_status_or_no_location_ends_the_chain() -> None:
    chain = RedirectChain(10, _headers())
    assert chain.next(str(HERE), HERE, 200, "/x", follow=True) is None
    assert chain.next(str(HERE), HERE, 302, None, follow=True) is None
    assert chain.next(str(HERE), HERE, 302, "/x", follow=False) is None
    assert len(chain.hops) == 1  # the unfollowed redirect is still in the chain


def test_leaving_the_origin_drops_the_users_headers_and_puts_defaults_back() -> None:
    user = [("Authorization", "Bearer t"), ("X-Api-Key", "k"), ("User-Agent", "mine")]
    strip = cross_origin_names(user, keep_user_headers=False)
    chain = RedirectChain(10, _headers(), strip=strip, restore=[("User-Agent", "default")])
    chain.next(str(HERE), HERE, 302, "http://a.test:8080/same", follow=True)
    assert chain.headers["X-Api-Key"] == "k"
    chain.next(str(HERE), HERE, 302, "https://a.test:8080/other", follow=True)
    assert dict(chain.headers) == {"User-Agent": "default", "Accept": "*/*"}


def test_keeping_user_headers_still_drops_credentials() -> None:
    user = [("Authorization", "Bearer t"), ("X-Api-Key", "k")]
    assert cross_origin_names(user, keep_user_headers=True) >= {"authorization", "cookie"}
    assert "x-api-key" not in cross_origin_names(user, keep_user_headers=True)


def test_methods_are_rewritten_as_browsers_do() -> None:
    assert redirected_method(303, "POST") == ("GET", False)
    assert redirected_method(302, "POST") == ("GET", False)
    assert redirected_method(307, "POST") == ("POST", True)
    assert redirected_method(303, "HEAD") == ("HEAD", True)


def test_origins_compare_scheme_host_and_port() -> None:
    assert same_origin(URL("http://A.test/x"), URL("http://a.test:80/y"))
    assert not same_origin(URL("http://a.test/"), URL("https://a.test/"))
    assert not same_origin(URL("http://a.test/"), URL("http://a.test:81/"))


def test_set_cookie_values_parse_and_bad_ones_are_skipped() -> None:
    cookies = parse_set_cookies(["a=1; Path=/", ";;;=\x01", "b=2"])
    assert {name: m.value for name, m in cookies.items()} == {"a": "1", "b": "2"}
