"""Pay-link tokens: short, signed, refused when forged or malformed."""

from hypothesis import given
from hypothesis import strategies as st

from propfee.pay_links import TOKEN_CHARS, link, new_token, token_valid

SECRET = b"s" * 32


def test_a_token_is_short_and_verifies_only_under_its_secret() -> None:
    token = new_token(SECRET)
    assert len(token) == TOKEN_CHARS == 9
    assert token.isalnum() and token.isascii()
    assert token_valid(SECRET, token)
    assert not token_valid(b"other", token)
    assert link("https://pf.cn/p/", token) == f"https://pf.cn/p/{token}"


def test_tokens_differ() -> None:
    assert len({new_token(SECRET) for _ in range(1000)}) == 1000


def test_a_changed_character_is_refused() -> None:
    token = new_token(SECRET)
    for i in range(len(token)):
        other = "A" if token[i] != "A" else "B"
        assert not token_valid(SECRET, token[:i] + other + token[i + 1 :])


@given(st.text(max_size=20))
def test_any_text_is_judged_without_error(text: str) -> None:
    assert token_valid(SECRET, text) in (True, False)
