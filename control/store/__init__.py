from control.store.base import LinkRecord, LinkStore, SeatRecord

__all__ = ["LinkRecord", "LinkStore", "SeatRecord"]
