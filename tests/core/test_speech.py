"""The speaker detector, sans IO: thousands of synthetic RFC 6464 levels, time passed in."""

from __future__ import annotations

import numpy as np
import pytest

from sfu.core.speech import SILENCE, WINDOW, SpeakerDetector, level_of

PACKET = 0.02  # one Opus packet every 20 ms


def run(detector: SpeakerDetector, seconds: float, levels: dict[str, object], start: float, rng: np.random.Generator) -> tuple[float, list[list[str]]]:
    """Feed ``seconds`` of packets; ``levels[pid]`` is a level, a callable of
    the rng, or None (no packets: DTX); returns the end time and every order seen."""
    orders: list[list[str]] = []
    now = start
    for _ in range(round(seconds / PACKET)):
        now += PACKET
        for pid, level in levels.items():
            if level is None:
                continue
            value = level(rng) if callable(level) else level
            detector.observe(pid, int(np.clip(value, 0, 127)))
        if detector.due(now) and detector.update(now):
            orders.append(list(detector.speakers))
    return now, orders


def speech(loudness: float, pauses: float = 0.2):
    """Speech around ``loudness`` (-dBov: 30 is -30 dBov), with short pauses at background noise."""
    def level(rng: np.random.Generator) -> float:
        return 85 + rng.normal(0, 3) if rng.random() < pauses else loudness + rng.normal(0, 4)
    return level


def test_level_of_reads_the_level_without_the_voice_bit() -> None:
    assert level_of(bytes([0x80 | 42])) == 42
    assert level_of(bytes([127])) == 127
    assert level_of(None) is None
    with pytest.raises(ValueError, match="positive number of seconds"):
        SpeakerDetector(window=0)


def test_silence_and_background_noise_are_nobody_speaking() -> None:
    rng = np.random.default_rng(1)
    detector = SpeakerDetector()
    _, orders = run(detector, 20.0, {"a": SILENCE, "b": lambda r: 80 + r.normal(0, 5), "c": None}, 0.0, rng)
    assert orders == [] and detector.speakers == []
    assert set(detector.ranking) == {"a", "b"}  # heard (levels), though silent; c sent nothing


def test_a_speaker_is_found_within_two_windows_and_held_between_words() -> None:
    rng = np.random.default_rng(2)
    detector = SpeakerDetector()
    now, _ = run(detector, 2.0, {"a": SILENCE, "b": SILENCE}, 0.0, rng)
    assert detector.speakers == []
    # a starts speaking: found within two windows
    now, orders = run(detector, 2 * WINDOW + 1e-6, {"a": speech(30), "b": SILENCE}, now, rng)
    assert orders == [["a"]]
    now, orders = run(detector, 10.0, {"a": speech(30), "b": SILENCE}, now, rng)
    assert orders == []  # 500 windows of speech with pauses: no flapping
    # a stops: still speaking through a pause between words (a third of a second)...
    now, orders = run(detector, 0.3, {"a": SILENCE, "b": SILENCE}, now, rng)
    assert detector.speakers == ["a"]
    # ...not after two seconds of silence (packets absent count as silence too)
    now, orders = run(detector, 1.7, {"a": None, "b": SILENCE}, now, rng)
    assert detector.speakers == [] and orders == [[]]
    assert detector.ranking[0] == "a"  # the most recent speaker leads the others


def test_clicks_are_not_speech() -> None:
    rng = np.random.default_rng(3)
    detector = SpeakerDetector()

    def clicks(r: np.random.Generator) -> float:
        return 5 if r.random() < 0.04 else SILENCE  # a loud packet now and then

    _, orders = run(detector, 30.0, {"a": clicks}, 0.0, rng)
    assert orders == [] and detector.speakers == []


def test_hysteresis_between_start_and_stop_thresholds() -> None:
    rng = np.random.default_rng(4)
    detector = SpeakerDetector()
    # -55 dBov: under the start threshold, over the stop one
    now, orders = run(detector, 5.0, {"a": lambda r: 55 + r.normal(0, 1)}, 0.0, rng)
    assert orders == []
    # once speaking, the same level keeps them speaking: no flapping at one threshold
    now, orders = run(detector, 1.0, {"a": speech(30)}, now, rng)
    assert orders == [["a"]]
    now, orders = run(detector, 10.0, {"a": lambda r: 55 + r.normal(0, 1)}, now, rng)
    assert orders == [] and detector.speakers == ["a"]


def test_loudest_first_and_stable_while_two_talk_at_once() -> None:
    rng = np.random.default_rng(5)
    detector = SpeakerDetector()
    now, orders = run(detector, 3.0, {"a": speech(30, 0), "b": speech(40, 0), "c": SILENCE}, 0.0, rng)
    assert detector.speakers == ["a", "b"]
    # about as loud as each other: the order does not swap back and forth
    now, orders = run(detector, 20.0, {"a": speech(34, 0), "b": speech(35, 0), "c": SILENCE}, now, rng)
    assert len(orders) <= 2
    # b clearly louder: b first
    now, orders = run(detector, 1.0, {"a": speech(45, 0), "b": speech(20, 0), "c": SILENCE}, now, rng)
    assert detector.speakers == ["b", "a"]


def test_many_participants_take_turns() -> None:
    """32 participants, one speaker at a time for two seconds each: the
    order follows each turn, with a handful of changes per turn at most."""
    rng = np.random.default_rng(6)
    detector = SpeakerDetector()
    pids = [f"p{i}" for i in range(32)]
    now = 0.0
    for turn in range(12):
        talker = pids[(turn * 7) % 32]
        levels: dict[str, object] = {p: (speech(28) if p == talker else SILENCE) for p in pids}
        now, orders = run(detector, 2.0, levels, now, rng)
        assert detector.speakers == [talker], turn
        assert len(orders) <= 3
    detector.forget(talker)
    assert talker not in detector.speakers and talker not in detector.ranking


def test_a_flood_of_packets_is_bounded_per_window() -> None:
    detector = SpeakerDetector()
    for _ in range(100_000):
        detector.observe("a", 10)
    detector.update(0.1)
    assert detector.speakers == ["a"]  # measured once, over a bounded number of levels
    assert len(detector._voices["a"].levels) == 0


def test_a_louder_newcomer_leads_within_a_few_windows() -> None:
    """A speaker switch: someone louder starts while two others go on; they
    lead within a few windows, not after their average climbed from silence."""
    rng = np.random.default_rng(7)
    detector = SpeakerDetector()
    now, _ = run(detector, 3.0, {"a": speech(20, 0), "b": speech(20, 0), "c": SILENCE}, 0.0, rng)
    assert set(detector.speakers) == {"a", "b"}
    now, _ = run(detector, 3 * WINDOW, {"a": speech(20, 0), "b": speech(20, 0), "c": speech(10, 0)}, now, rng)
    assert detector.speakers[0] == "c"
