"""``${VAR}`` placeholders: which utcp can fill, and the advice that leads somewhere."""

from __future__ import annotations

from utcp_http_stream.placeholders import (
    find_unresolved,
    is_usable_name,
    iter_placeholders,
    unresolved_advice,
    usable_name,
    variable_name_to_set,
)


def test_usable_names_are_letters_digits_and_underscores():
    assert is_usable_name("API_KEY") and is_usable_name("key2")
    assert not is_usable_name("API-KEY") and not is_usable_name("api.key") and not is_usable_name("")
    assert usable_name("API-KEY") == "API_KEY" and usable_name("a.b c") == "a_b_c"


def test_the_name_to_set_doubles_the_manuals_underscores():
    assert variable_name_to_set("KEY", "my_api") == "my__api_KEY"
    assert variable_name_to_set("KEY", None) == "KEY"


def test_placeholders_are_found_everywhere_in_order():
    value = {"a": ["x ${ONE}", {"${TWO}": "${THREE}"}], "b": "$plain"}
    assert list(iter_placeholders(value)) == ["ONE", "TWO", "THREE"]
    assert find_unresolved(value) == "ONE" and find_unresolved("none") is None


def test_advice_for_a_usable_name_says_what_to_set():
    advice = unresolved_advice("API_KEY", "weather")
    assert advice.startswith("Set weather_API_KEY in the environment")


def test_advice_for_an_unusable_name_says_to_rename_it():
    advice = unresolved_advice("API-KEY", "dash_var")
    assert "rename the placeholder to ${API_KEY}" in advice
    assert "then set dash__var_API_KEY" in advice
    assert "dash__var_API-KEY" not in advice  # the old advice that could never work
