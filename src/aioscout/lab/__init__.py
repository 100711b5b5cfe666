"""The lab: a local internet on loopback for the demo, the tests and the benchmarks.

HTTP and HTTPS servers with many virtual hosts of known behaviour, an
authoritative DNS server for the ``lab.test`` zone and hostile servers, all on
127.0.0.0/8. Every site's expected scan result is known in advance
(:func:`expected`), computed from the lab's own data.

Example::

    async with Lab(sites=200) as lab:
        for url, expectation in lab.truth():
            ...

From a shell: ``aioscout lab up|down|status`` (see :mod:`aioscout.lab.control`).
"""

from aioscout.lab._farm import DEFAULT_ADDRESSES, Lab, check_loopback
from aioscout.lab.certs import CertPair, LabCertificates, generate_lab_certificates
from aioscout.lab.http import HttpServer, Router, decode_echo
from aioscout.lab.sites import ORIGIN, Catalogue, Expectation, Page, Site, expected

__all__ = [
    "DEFAULT_ADDRESSES",
    "ORIGIN",
    "Catalogue",
    "CertPair",
    "Expectation",
    "HttpServer",
    "Lab",
    "LabCertificates",
    "Page",
    "Router",
    "Site",
    "check_loopback",
    "decode_echo",
    "expected",
    "generate_lab_certificates",
]
