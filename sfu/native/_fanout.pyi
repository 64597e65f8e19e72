"""Type stub of the C extension (sfu/native/fanout.c, rewriter.c)."""

from typing import Any

MAX_PACKET: int
BATCH: int
MAX_STREAMS: int

class Rewriter:
    """The native twin of sfu.core.rewriter.Rewriter; construct it through sfu.native.Rewriter."""

    ssrc: int
    payload_type: int
    mid: str
    rtx_ssrc: int | None
    rtx_payload_type: int | None
    clock_rate: int
    gap: int
    packets_sent: int
    octets_sent: int
    last_sequence_number: int
    last_timestamp: int
    rtx_sequence_number: int
    seq_offset: int
    ts_offset: int
    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        mid: str,
        mid_element: bytes,
        ast_id: int,
        al_id: int,
        rtx_ssrc: int | None,
        rtx_payload_type: int | None,
        first_sequence_number: int,
        first_timestamp: int,
        clock_rate: int,
        gap: int,
        first_rtx_sequence_number: int,
    ) -> None: ...
    def rewrite(self, view: Any, abs_send_time: int) -> bytes: ...
    def rtx(self, view: Any, abs_send_time: int) -> bytes | None: ...
    def switch_source(self, skip: int = 0) -> None: ...
    def precedes_epoch(self, view: Any) -> bool: ...
    def original_sequence_number(self, out_seq: int) -> int | None: ...

class Sink:
    sent: int
    failed: int
    last_errno: int
    closed: bool
    ssrcs: tuple[int, ...]
    def __init__(
        self, fd: int, host: str, port: int, policy: Any, policy_ptr: int, create: int, dealloc: int, protect: int
    ) -> None: ...
    def send(self, packet: bytes) -> None: ...
    def close(self) -> None: ...

class FanoutGroup:
    syscalls: int
    cut_short: int
    def add(self, rewriter: Rewriter, sink: Sink) -> bool: ...
    def remove(self, rewriter: Rewriter) -> bool: ...
    def forward(self, view: Any, abs_send_time: int) -> int: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, rewriter: object) -> bool: ...
