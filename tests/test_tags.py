"""Tag rules, the two header forms, and selectors."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spendtag.errors import TagError
from spendtag.tags import (
    MAX_KEY_LENGTH,
    MAX_TAGS,
    MAX_VALUE_LENGTH,
    Selector,
    canonical,
    check_key,
    check_tags,
    check_value,
    matches_all,
    merge,
    parse_header,
    parse_pairs,
)

FAST = settings(max_examples=200, deadline=None)

_KEY_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
keys = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(_KEY_FIRST),
    st.text(alphabet=_KEY_FIRST + "_.:/-", max_size=MAX_KEY_LENGTH - 1),
)
values = st.text(
    alphabet=st.characters(exclude_categories=["Cs"],
                           exclude_characters="".join(map(chr, [*range(32), *range(127, 160), 0x2028, 0x2029]))),
    max_size=MAX_VALUE_LENGTH,
)


# -- limits -----------------------------------------------------------------------------------


def test_limits_are_as_documented() -> None:
    assert (MAX_TAGS, MAX_KEY_LENGTH, MAX_VALUE_LENGTH) == (32, 64, 256)


def test_32_tags_are_allowed_33_are_not() -> None:
    tags = {f"k{i}": "v" for i in range(MAX_TAGS)}
    assert check_tags(tags) == tags
    tags["k32"] = "v"
    with pytest.raises(TagError, match=r"33 tags given; the limit is 32"):
        check_tags(tags)


def test_key_of_64_characters_is_allowed_65_is_not() -> None:
    assert check_key("k" * 64) == "k" * 64
    key = "client_reference_" + "x" * 48
    assert len(key) == 65
    with pytest.raises(TagError) as info:
        check_tags({key: "acme"})
    message = str(info.value)
    assert key[:20] in message          # long keys are named by their start
    assert "65 characters" in message and "64" in message


def test_value_of_256_characters_is_allowed_257_is_not() -> None:
    assert check_tags({"note": "v" * 256}) == {"note": "v" * 256}
    with pytest.raises(TagError) as info:
        check_tags({"note": "v" * 257})
    assert "'note'" in str(info.value)
    assert "257 characters" in str(info.value) and "256" in str(info.value)


@pytest.mark.parametrize("char", ["\x00", "\n", "\r", "\t", "\x1b", "\x1f", "\x7f"])
def test_control_characters_in_values_are_refused(char: str) -> None:
    with pytest.raises(TagError, match=r"tag 'ticket': value contains a control character"):
        check_tags({"ticket": f"abc{char}def"})


@pytest.mark.parametrize("char", ["\x85", "\x9b"])
def test_c1_control_characters_in_values_are_refused(char: str) -> None:
    with pytest.raises(TagError, match="control character"):
        check_value("ticket", f"abc{char}def")


@pytest.mark.parametrize(
    "key",
    ["-client", "_client", ".env", "cli ent", "client!", "clïent", "client=x", "a\n", "a,b", "tag\t", "ключ"],
)
def test_bad_key_characters_are_refused_and_the_key_is_named(key: str) -> None:
    with pytest.raises(TagError) as info:
        check_tags({key: "v"})
    assert repr(key) in str(info.value)
    assert "letters, digits and _ . - : /" in str(info.value)


def test_empty_key_is_refused() -> None:
    with pytest.raises(TagError, match="must not be empty"):
        check_key("")


def test_non_string_value_is_refused_with_a_hint() -> None:
    with pytest.raises(TagError, match=r"tag 'n': value must be a string, got int \(quote numbers\)"):
        check_value("n", 3)  # type: ignore[arg-type]


@FAST
@given(st.dictionaries(keys, values, max_size=MAX_TAGS))
def test_valid_tags_pass_unchanged(tags: dict[str, str]) -> None:
    assert check_tags(tags) == tags


def test_keys_allow_every_documented_character_and_are_case_sensitive() -> None:
    tags = {"a/b:c.d-e_f": "1", "Client": "x", "client": "y", "9lives": ""}
    assert check_tags(tags) == tags


# -- pairs and headers ------------------------------------------------------------------------


def test_parse_pairs_accepts_repeated_and_comma_separated_items() -> None:
    assert parse_pairs(["client=acme", " env = prod ,team=x", "", "empty="]) == {
        "client": "acme",
        "env": "prod",
        "team": "x",
        "empty": "",
    }


def test_parse_pairs_later_value_wins_and_value_may_hold_equals() -> None:
    assert parse_pairs(["client=acme", "client=globex", "q=a=b"]) == {"client": "globex", "q": "a=b"}


def test_parse_pairs_without_equals_is_explained() -> None:
    with pytest.raises(TagError, match=r"tag 'client' has no '=': write key=value, e.g. client=acme"):
        parse_pairs(["client"])


def test_parse_pairs_checks_the_rules() -> None:
    with pytest.raises(TagError, match="'bad key'"):
        parse_pairs(["bad key=1"])


def test_parse_header_pairs_form() -> None:
    assert parse_header(" client=acme,env=prod ") == {"client": "acme", "env": "prod"}
    assert parse_header("") == {}


def test_parse_header_json_form() -> None:
    assert parse_header('{"client": "acme", "env": "prod, eu"}') == {"client": "acme", "env": "prod, eu"}
    assert parse_header("  {}") == {}


def test_parse_header_malformed_json_says_where() -> None:
    with pytest.raises(TagError) as info:
        parse_header('{"client": acme}')
    assert str(info.value) == "tags header is not valid JSON: Expecting value at character 11"


def test_parse_header_json_values_must_be_strings() -> None:
    with pytest.raises(TagError, match=r"tag 'n': value must be a string, got int"):
        parse_header('{"n": 1}')


def test_parse_header_json_checks_the_rules() -> None:
    with pytest.raises(TagError, match=r"tag 'x': value contains a control character"):
        parse_header('{"x": "a\\u0007"}')
    many = "{" + ",".join(f'"k{i}": "v"' for i in range(33)) + "}"
    with pytest.raises(TagError, match="33 tags given"):
        parse_header(many)


def test_merge_later_sets_win() -> None:
    assert merge({"a": "1", "b": "1"}, None, {"b": "2"}) == {"a": "1", "b": "2"}


def test_canonical_is_independent_of_order() -> None:
    assert canonical({"b": "2", "a": "é"}) == canonical({"a": "é", "b": "2"}) == '{"a":"é","b":"2"}'


# -- selectors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "selector"),
    [
        ("client=acme", Selector("client", "eq", "acme")),
        ("client!=acme", Selector("client", "ne", "acme")),
        ("env", Selector("env", "present")),
        ("!env", Selector("env", "absent")),
        (" client = acme ", Selector("client", "eq", "acme")),
        ("q=a=b", Selector("q", "eq", "a=b")),
        ("client=", Selector("client", "eq", "")),
    ],
)
def test_selector_parse(text: str, selector: Selector) -> None:
    assert Selector.parse(text) == selector


@pytest.mark.parametrize("text", ["", "!", "bad key=x", "=acme", "!=x"])
def test_selector_parse_refuses_bad_keys(text: str) -> None:
    with pytest.raises(TagError):
        Selector.parse(text)


def test_selector_matches() -> None:
    tags = {"client": "acme", "env": "prod"}
    assert Selector.parse("client=acme").matches(tags)
    assert not Selector.parse("client=globex").matches(tags)
    assert Selector.parse("client!=globex").matches(tags)
    assert not Selector.parse("client!=acme").matches(tags)
    assert Selector.parse("team!=x").matches(tags)          # absent is "not equal"
    assert Selector.parse("env").matches(tags)
    assert not Selector.parse("team").matches(tags)
    assert Selector.parse("!team").matches(tags)
    assert not Selector.parse("!env").matches(tags)
    assert matches_all([Selector.parse("client=acme"), Selector.parse("env")], tags)
    assert not matches_all([Selector.parse("client=acme"), Selector.parse("team")], tags)
    assert matches_all([], {})


def _selector_text(key: str, op: str, value: str) -> str:
    return {"eq": f"{key}={value}", "ne": f"{key}!={value}", "present": key, "absent": f"!{key}"}[op]


@FAST
@given(keys, st.sampled_from(["eq", "ne", "present", "absent"]), values)
def test_selector_str_parse_round_trip(key: str, op: str, value: str) -> None:
    assume(value == value.strip())              # parse strips around the value by design
    assume(not value.startswith("="))           # key==value is refused as a slip for key=value
    text = _selector_text(key, op, value)
    selector = Selector.parse(text)
    assert str(selector) == text
    assert Selector.parse(str(selector)) == selector
    assert selector.key == key
    assert selector.value == (value if op in ("eq", "ne") else None)


def test_selector_equality_with_a_value_holding_not_equals_round_trips() -> None:
    selector = Selector("expr", "eq", "a!=b")
    assert Selector.parse(str(selector)) == selector
