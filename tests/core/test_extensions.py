from __future__ import annotations

from sfu.core.extensions import URIS, Ext, ids_by_kind, kinds_by_id

from .aiortc_helpers import AL_URI, AST_URI, MID_URI, TCC_URI

NEGOTIATED = [(1, MID_URI), (2, AST_URI), (3, TCC_URI), (9, AL_URI)]


def test_uris_cover_exactly_the_forwarded_kinds() -> None:
    assert set(URIS.values()) == set(Ext)
    assert URIS[MID_URI] is Ext.MID
    assert URIS[AST_URI] is Ext.ABS_SEND_TIME
    assert URIS[AL_URI] is Ext.AUDIO_LEVEL
    assert (Ext.MID, Ext.ABS_SEND_TIME, Ext.AUDIO_LEVEL) == (1, 2, 3)


def test_ids_by_kind_ignores_unknown_uris() -> None:
    assert ids_by_kind(NEGOTIATED) == {Ext.MID: 1, Ext.ABS_SEND_TIME: 2, Ext.AUDIO_LEVEL: 9}


def test_kinds_by_id_is_the_inverse() -> None:
    assert kinds_by_id(NEGOTIATED) == {1: Ext.MID, 2: Ext.ABS_SEND_TIME, 9: Ext.AUDIO_LEVEL}
    assert kinds_by_id(iter(NEGOTIATED)) == kinds_by_id(NEGOTIATED)  # any iterable


def test_empty_and_out_of_range_ids() -> None:
    assert ids_by_kind([]) == {}
    assert kinds_by_id([(0, MID_URI), (256, AST_URI), (-1, AL_URI)]) == {}
    assert ids_by_kind([(200, MID_URI)]) == {Ext.MID: 200}  # two-byte ids are valid
