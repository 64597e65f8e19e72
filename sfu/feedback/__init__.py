"""Our own RTCP towards publishers (sans-IO: packets and time go in, bytes come out).

- :mod:`.stats`: receive statistics of one publisher stream (RFC 3550 A.1, A.3, A.8);
- :mod:`.nack`: which lost packets to request, retried a bounded number of times;
- :mod:`.estimator`: the bandwidth estimate sent as REMB (loss-based);
- :mod:`.rtcp`: RTCP serialisation (RR, REMB, generic NACK) and SR parsing;
- :mod:`.scheduler`: one compound RTCP packet per publisher transport per interval.

No sockets, clocks, event loop or aiortc here: the glue in ``sfu/rtc`` passes
the arrival time of each packet and the current time of each poll.
"""
