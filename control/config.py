"""Server settings: one dataclass, filled from flags or ``CALLSFU_*`` variables."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LINK_TTL = 90 * 24 * 3600
TICKET_TTL = 30.0
MAX_PARTICIPANTS_LIMIT = 32
MAX_VIEWERS_LIMIT = 10_000
LOG_FORMATS = ("text", "json")
MAX_WORKERS = 256


@dataclass(slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    store: str | None = None  # None: SQLite in data_dir; or redis://host:port/db
    link_ttl: int = DEFAULT_LINK_TTL
    max_participants: int = MAX_PARTICIPANTS_LIMIT
    max_viewers: int = 100  # WHEP viewers per call
    ice_host: list[str] = field(default_factory=list)
    ice_servers: list[str] = field(default_factory=list)  # STUN/TURN URLs handed to clients
    udp_port: int = 0  # the SFU's one UDP port for all ICE/DTLS/SRTP; 0: a free one, chosen at start
    turn_secret: str | None = None  # coturn static-auth-secret: per-join TURN credentials
    api_key: str | None = None
    public_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    ticket_ttl: float = TICKET_TTL
    rate_limit: int = 30  # joins and link creations per minute per non-loopback address; 0: off
    node_id: str | None = None  # this node's name in a shared store; default: host name and port
    webhook_urls: list[str] = field(default_factory=list)  # events POSTed there (control/webhooks.py)
    webhook_secret: str | None = None  # whsec_BASE64: Standard Webhooks signatures
    log_format: str = "text"  # or json: one JSON object per line
    loudest_audio: int = 3  # whose audio each participant gets at once: the N loudest (0: everyone's)
    workers: int = 0  # SFU worker processes; 0: the SFU runs inside this process
    forwarding: str | None = None  # handed to worker processes (native or python)
    log_level: str = "info"  # handed to worker processes

    def __post_init__(self) -> None:
        if not 1 <= self.max_participants <= MAX_PARTICIPANTS_LIMIT:
            raise ValueError(
                f"--max-participants must be between 1 and {MAX_PARTICIPANTS_LIMIT},"
                f" not {self.max_participants}"
            )
        if not 0 <= self.max_viewers <= MAX_VIEWERS_LIMIT:
            raise ValueError(f"--max-viewers must be between 0 and {MAX_VIEWERS_LIMIT}, not {self.max_viewers}")
        if self.node_id is not None and not (0 < len(self.node_id) <= 100 and self.node_id.isprintable() and " " not in self.node_id):
            raise ValueError(f"--node-id must be 1 to 100 printable characters without spaces, not {self.node_id!r}")
        if not 0 <= self.loudest_audio <= MAX_PARTICIPANTS_LIMIT:
            raise ValueError(
                f"--loudest-audio must be between 0 (everyone) and {MAX_PARTICIPANTS_LIMIT}, not {self.loudest_audio}"
            )
        if not 0 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"--workers must be between 1 and {MAX_WORKERS}, not {self.workers}")
        if self.udp_port and self.udp_port + max(self.workers - 1, 0) > 65535:
            raise ValueError(f"--udp-port {self.udp_port} with --workers {self.workers} goes past port 65535")
        if not 0 <= self.udp_port <= 65535:
            raise ValueError(f"--udp-port must be between 0 and 65535, not {self.udp_port}")
        if self.link_ttl < 1:
            raise ValueError(f"--link-ttl must be a positive number of seconds, not {self.link_ttl}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {self.log_format!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key go together: give both or neither")

    @property
    def default_node_id(self) -> str:
        """Stable across restarts of the same node: ``HOSTNAME:PORT``."""
        return f"{socket.gethostname()}:{self.port}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def ws_base_url(self) -> str:
        base = self.base_url
        return "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
