"""pysaml2 logs NameIDs, attributes and whole documents; none of it may reach Stitchd's log, even at DEBUG."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.saml.errors import SamlRejected
from stitchd.logging import configure_logging
from stitchd.settings import Settings
from tests.saml_idp import SamlRig, decode, encode


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    root, saml2 = logging.getLogger(), logging.getLogger("saml2")
    handlers, level, saml2_level = list(root.handlers), root.level, saml2.level
    out = io.StringIO()
    configure_logging(Settings(log_level="DEBUG"), out)
    yield out
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    saml2.setLevel(saml2_level)


def test_no_saml_login_writes_the_person_into_the_log(debug_log: io.StringIO, tmp_path: Path) -> None:
    rig = SamlRig(tmp_path)
    request_id = rig.start()
    b64 = rig.respond(request_id, email="grace@example.test")
    assert rig.verify(b64, request_id).email == "grace@example.test"
    tampered = encode(decode(b64).replace("Ada Lovelace", "Eve Mallory"))
    with pytest.raises(SamlRejected):
        rig.verify(tampered, request_id)
    logging.getLogger("stitchd.test").debug("the log works")
    text = debug_log.getvalue()
    assert "the log works" in text
    for personal in ("grace@example.test", "Ada Lovelace", "Eve Mallory", "Assertion"):
        assert personal not in text
