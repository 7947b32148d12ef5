"""The ONVIF device-service schema and WSDL as shipped in the installed onvif package (not ours)."""

from __future__ import annotations

import functools
from pathlib import Path

import onvif
from lxml import etree

WSDL_DIR = Path(onvif.__file__).parent / "wsdl"
DEVICE_WSDL = WSDL_DIR / "devicemgmt.wsdl"
XS = "http://www.w3.org/2001/XMLSchema"


@functools.cache
def device_schema() -> etree.XMLSchema:
    """The xs:schema embedded in devicemgmt.wsdl (imports onvif.xsd and friends from the same folder)."""
    parser = etree.XMLParser(no_network=True)
    doc = etree.parse(str(DEVICE_WSDL), parser)
    schema_el = doc.find(f".//{{{XS}}}schema")
    assert schema_el is not None
    standalone = etree.fromstring(etree.tostring(schema_el), parser, base_url=str(DEVICE_WSDL))
    return etree.XMLSchema(standalone)
