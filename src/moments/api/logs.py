"""How a server process logs: its level, plain lines or one JSON object per line, and whose
X-Forwarded-For it believes (the client address its access lines and beacon budgets use).

Everything goes to stderr (stdout keeps `moments serve`'s banner). uvicorn's own access log
is off: api/observe.py writes one line per request instead, with its duration.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("plain", "json")
# What an access line carries besides its message (api/observe.py passes them as `extra`).
ACCESS_FIELDS = ("method", "path", "query", "status", "duration_ms", "client")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, pid (which of
    `serve --workers`' processes), and an access line's fields; a traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        line.update({name: getattr(record, name) for name in ACCESS_FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"
    format: str = "plain"
    # The proxies whose X-Forwarded-For is believed (comma-separated addresses or networks,
    # "*" for any); None leaves uvicorn's default: $FORWARDED_ALLOW_IPS, else 127.0.0.1.
    forwarded_allow_ips: str | None = None

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config keywords: logging configured here, its access log off."""
        return {"log_config": self.logging_config(), "log_level": self.level, "access_log": False,
                "proxy_headers": True, "forwarded_allow_ips": self.forwarded_allow_ips}

    def logging_config(self) -> dict[str, Any]:
        """For logging.config.dictConfig: moments' and uvicorn's loggers at the level, every other
        library's warnings and errors too, all through one handler in the chosen format."""
        formatter = ({"()": JsonFormatter} if self.format == "json"
                     else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"})
        level = self.level.upper()
        return {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"moments": formatter},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "moments",
                                    "stream": "ext://sys.stderr"}},
            "root": {"handlers": ["stderr"], "level": "WARNING"},
            "loggers": {name: {"handlers": ["stderr"], "level": level, "propagate": False}
                        for name in ("moments", "uvicorn")},
        }

    def door_args(self) -> list[str]:
        """The same settings on a door process's command line (`moments door`)."""
        args = ["--log-level", self.level, "--log-format", self.format]
        return args + (["--forwarded-allow-ips", self.forwarded_allow_ips] if self.forwarded_allow_ips else [])
