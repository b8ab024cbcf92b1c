from greenchain.p2p.server import SeenMessages


def test_copies_within_the_window_are_ignored_and_later_resends_pass() -> None:
    seen = SeenMessages(limit=10, window_s=2.0)
    assert seen.add(b"a", now=100.0)
    assert not seen.add(b"a", now=101.0)
    assert seen.add(b"b", now=101.0)
    assert seen.add(b"a", now=102.5)


def test_the_memory_is_bounded() -> None:
    seen = SeenMessages(limit=3, window_s=1e9)
    for i in range(10):
        assert seen.add(bytes([i]), now=float(i))
    assert len(seen.hashes) <= 4
