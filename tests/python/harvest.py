"""Harvests a running yiqi hub with real OAI-PMH clients and checks what they get.

Run by tests/tests/oai.rs:  python3 harvest.py (sickle|pyoai|validate) BASE_URL EXPECTED_JSON

EXPECTED_JSON: {"repository": "yiqi", "items": {identifier: {"kind": ..., "deleted": bool}}}.
Exits 0 when everything matches; otherwise prints what differs and exits 1.
"""

import json
import os
import sys
import urllib.parse
import urllib.request

try:
    from lxml import etree
    from oaipmh.client import Client
    from oaipmh.error import NoRecordsMatchError
    from oaipmh.metadata import MetadataRegistry, oai_dc_reader
    from sickle import Sickle
except ImportError as missing:
    sys.exit(f"{missing}: run `pip install -r tests/python/requirements.txt`")

OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"
DATACITE = "{http://datacite.org/schema/kernel-4}"
YIQI = "{urn:yiqi:oai:envelope:1}"
HERE = os.path.dirname(os.path.abspath(__file__))
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


def expected_for(expected, prefix):
    """The items a list in `prefix` must hold: DataCite describes instruments only."""
    return {
        identifier: item
        for identifier, item in expected["items"].items()
        if prefix != "datacite" or item["kind"] == "instrument"
    }


def check_datacite(identifier, resource):
    for member in ["creators/{0}creator/{0}creatorName", "titles/{0}title", "publisher",
                   "publicationYear", "resourceType"]:
        path = DATACITE + member.format(DATACITE)
        found = resource.find(path)
        check(found is not None and (found.text or "").strip(),
              f"{identifier}: DataCite lacks {member.format('')}")
    kind = resource.find(DATACITE + "resourceType")
    check(kind is not None and kind.get("resourceTypeGeneral") == "Instrument",
          f"{identifier}: resourceTypeGeneral is not Instrument")


def check_dc(identifier, dc):
    for member in ["title", "identifier", "publisher", "type"]:
        check(dc.find(DC + member) is not None, f"{identifier}: oai_dc lacks dc:{member}")


def check_yiqi(identifier, envelope_element):
    envelope = json.loads(envelope_element.text)
    record = envelope["record"]
    check(identifier.endswith(f":{record['region']}/{record['local_id']}"),
          f"{identifier}: the envelope is of {record['region']}/{record['local_id']}")
    check("signature" in envelope, f"{identifier}: the envelope has no signature")


def harvest_sickle(base, expected):
    """ListRecords with resumption in each format: counts, identifiers, deleted headers."""
    sickle = Sickle(base, max_retries=0)
    for prefix in ["oai_dc", "datacite", "yiqi"]:
        want = expected_for(expected, prefix)
        got = {}
        for record in sickle.ListRecords(metadataPrefix=prefix, ignore_deleted=False):
            identifier = record.header.identifier
            check(identifier not in got, f"{prefix}: {identifier} listed twice")
            got[identifier] = record.header.deleted
            if record.header.deleted:
                continue
            metadata = record.xml.find(OAI + "metadata")
            payload = metadata[0] if metadata is not None and len(metadata) else None
            if payload is None:
                problems.append(f"{prefix}: {identifier} has no metadata")
            elif prefix == "datacite":
                check_datacite(identifier, payload)
            elif prefix == "oai_dc":
                check_dc(identifier, payload)
            else:
                check_yiqi(identifier, payload)
        check(len(got) == len(want), f"{prefix}: {len(got)} records harvested, {len(want)} expected")
        check(set(got) == set(want), f"{prefix}: identifiers differ: "
              f"missing {sorted(set(want) - set(got))[:5]}, extra {sorted(set(got) - set(want))[:5]}")
        wrong = [i for i in got if i in want and got[i] != want[i]["deleted"]]
        check(not wrong, f"{prefix}: deleted headers differ for {wrong[:5]}")
        print(f"sickle {prefix}: {len(got)} records, {sum(got.values())} deleted")


def harvest_pyoai(base, expected):
    """ListIdentifiers with from/until: each datestamp's slice, and the whole range."""
    registry = MetadataRegistry()
    registry.registerReader("oai_dc", oai_dc_reader)
    client = Client(base, registry)
    everything = {h.identifier(): h for h in client.listIdentifiers(metadataPrefix="oai_dc")}
    want = expected["items"]
    check(set(everything) == set(want), "pyoai: the identifiers differ from the expected ones")
    deleted = {i for i, h in everything.items() if h.isDeleted()}
    check(deleted == {i for i, item in want.items() if item["deleted"]},
          "pyoai: deleted headers differ")
    stamps = sorted({h.datestamp() for h in everything.values()})
    check(len(stamps) >= 2, f"pyoai: the test data span {len(stamps)} datestamp(s), need 2+")
    for stamp in stamps:
        sliced = {h.identifier() for h in client.listIdentifiers(
            metadataPrefix="oai_dc", from_=stamp, until=stamp)}
        exact = {i for i, h in everything.items() if h.datestamp() == stamp}
        check(sliced == exact, f"pyoai: from=until={stamp} gave {len(sliced)}, {len(exact)} expected")
    later = {h.identifier() for h in client.listIdentifiers(metadataPrefix="oai_dc", from_=stamps[1])}
    check(later == {i for i, h in everything.items() if h.datestamp() >= stamps[1]},
          "pyoai: from alone is not inclusive")
    earlier = {h.identifier() for h in client.listIdentifiers(metadataPrefix="oai_dc", until=stamps[0])}
    check(earlier == {i for i, h in everything.items() if h.datestamp() <= stamps[0]},
          "pyoai: until alone is not inclusive")
    try:
        list(client.listIdentifiers(metadataPrefix="oai_dc", from_=stamps[-1].replace(year=2999)))
        problems.append("pyoai: a range after every datestamp did not answer noRecordsMatch")
    except NoRecordsMatchError:
        pass
    print(f"pyoai: {len(everything)} identifiers over {len(stamps)} datestamps")


def fetch(base, query, post=False):
    data = urllib.parse.urlencode(query).encode()
    request = urllib.request.Request(base, data=data) if post else \
        urllib.request.Request(f"{base}?{data.decode()}")
    with urllib.request.urlopen(request) as response:
        return response.read()


def validate(base, expected):
    """Every verb and every error condition, GET and POST, against the OAI-PMH schema."""
    schema = etree.XMLSchema(etree.parse(os.path.join(HERE, "xsd", "OAI-PMH.xsd")))
    items = expected["items"]
    live = next(i for i, item in items.items() if item["kind"] == "instrument" and not item["deleted"])
    gone = next(i for i, item in items.items() if item["deleted"])
    key = next(i for i, item in items.items() if item["kind"] == "key")
    cases = [
        ({"verb": "Identify"}, None),
        ({"verb": "ListMetadataFormats"}, None),
        ({"verb": "ListMetadataFormats", "identifier": key}, None),
        ({"verb": "ListSets"}, None),
        ({"verb": "GetRecord", "identifier": live, "metadataPrefix": "datacite"}, None),
        ({"verb": "GetRecord", "identifier": live, "metadataPrefix": "oai_dc"}, None),
        ({"verb": "GetRecord", "identifier": live, "metadataPrefix": "yiqi"}, None),
        ({"verb": "GetRecord", "identifier": gone, "metadataPrefix": "oai_dc"}, None),
        ({"verb": "ListIdentifiers", "metadataPrefix": "yiqi", "set": "kind:key"}, None),
        ({"verb": "ListRecords", "metadataPrefix": "datacite", "set": "region:CN-GS"}, None),
        ({"verb": "Nonsense"}, "badVerb"),
        ({}, "badVerb"),
        ({"verb": "GetRecord", "identifier": live}, "badArgument"),
        ({"verb": "Identify", "from": "2026-01-01"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2026-01-01",
          "until": "2026-01-01T00:00:00Z"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
        ({"verb": "ListRecords", "resumptionToken": "x"}, "badResumptionToken"),
        ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
        ({"verb": "GetRecord", "identifier": key, "metadataPrefix": "datacite"},
         "cannotDisseminateFormat"),
        ({"verb": "GetRecord", "identifier": "oai:nowhere:CN-BJ/x", "metadataPrefix": "oai_dc"},
         "idDoesNotExist"),
        ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "from": "2999-01-01"},
         "noRecordsMatch"),
    ]
    for query, error in cases:
        for post in (False, True):
            document = etree.fromstring(fetch(base, query, post))
            where = f"{'POST' if post else 'GET'} {query}"
            if not schema.validate(document):
                problems.append(f"{where}: not valid OAI-PMH: {schema.error_log.last_error}")
            found = document.find(OAI + "error")
            code = found.get("code") if found is not None else None
            check(code == error, f"{where}: error {code}, {error} expected")
    # One resumption: the second page of a list validates too.
    first = etree.fromstring(fetch(base, {"verb": "ListRecords", "metadataPrefix": "yiqi"}))
    token = first.find(f"{OAI}ListRecords/{OAI}resumptionToken")
    check(token is not None and token.text, "a full ListRecords has no resumption token")
    if token is not None and token.text:
        second = etree.fromstring(fetch(base, {"verb": "ListRecords", "resumptionToken": token.text}))
        check(schema.validate(second), f"the second page is not valid: {schema.error_log.last_error}")
    print(f"validate: {len(cases) * 2} responses checked against OAI-PMH.xsd")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    mode, base, expected_path = sys.argv[1:]
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    {"sickle": harvest_sickle, "pyoai": harvest_pyoai, "validate": validate}[mode](base, expected)
    if problems:
        print("\n".join(problems[:50]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
