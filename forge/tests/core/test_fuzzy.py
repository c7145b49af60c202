from anvil_forge.core.fuzzy import rank, score


def test_subsequence_matches_and_misses():
    assert score("wlc", "Welcome") is not None
    assert score("xyz", "Welcome") is None
    assert score("", "anything") == 0.0


def test_case_and_spaces_are_ignored():
    assert score("EMAILS welc", "acme/support/emails/welcome") is not None


def test_substring_and_word_starts_rank_higher():
    assert score("email", "Emails") > score("email", "the mail of e")
    assert score("sys", "System") > score("sys", "chassis yes")


def test_fallback_when_word_start_jump_fails():
    # jumping to the word start "a" would leave no "b" after it; plain greedy still matches
    assert score("ab", "xab a") is not None


def test_rank_orders_and_limits():
    items = ["Welcome", "Emails", "Emails archive", "System"]
    assert rank("em", items, key=str)[:2] == ["Emails", "Emails archive"]
    assert rank("em", items, key=str, limit=1) == ["Emails"]
    assert rank("zzz", items, key=str) == []
