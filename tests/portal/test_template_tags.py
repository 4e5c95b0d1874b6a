"""The site's template filters: the short label shown beside an address."""

from __future__ import annotations

from portal.templatetags.portal_tags import annotation_of


def test_a_known_hosts_alias_is_said_once() -> None:
    annotations = {
        # enrich.describe: a known host with no organisation has its alias as its label too.
        "10.0.3.30": {"alias": "db-primary", "label": "db-primary", "kind": "internal"},
        "203.0.113.9": {"alias": "partner-vpn", "org": "Example Org", "country": "NL"},
        "198.51.100.7": {"alias": None, "label": "", "org": "", "kind": "external"},
    }
    assert annotation_of("10.0.3.30", annotations) == "db-primary"
    assert annotation_of("203.0.113.9", annotations) == "partner-vpn · Example Org · NL"
    assert annotation_of("198.51.100.7", annotations) == "external"
    assert annotation_of("192.0.2.1", annotations) == ""
    assert annotation_of(42, annotations) == ""
