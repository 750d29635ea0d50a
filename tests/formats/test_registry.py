"""The registry names the contract's four export formats and each one renders a real ECG."""

from __future__ import annotations

import pytest

from ecg_graphql.formats.paper import Layout
from ecg_graphql.formats.record import EcgRecord
from ecg_graphql.formats.registry import FORMATS


def test_the_contract_formats_are_listed() -> None:
    assert {name: (f.suffix, f.media_type) for name, f in FORMATS.items()} == {
        "SVG": ("svg", "image/svg+xml"),
        "PDF": ("pdf", "application/pdf"),
        "FHIR": ("fhir.json", "application/fhir+json"),
        "WFDB": ("wfdb.zip", "application/zip"),
    }


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_renders_mortara(mortara: EcgRecord, name: str) -> None:
    data = FORMATS[name].render(mortara, Layout.SIX_BY_TWO)
    magic = {"SVG": b"<?xml", "PDF": b"%PDF-", "FHIR": b"{", "WFDB": b"PK\x03\x04"}[name]
    assert data.startswith(magic)
