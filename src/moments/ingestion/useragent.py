"""Browser, OS and device type from request headers (the SDK sends none of these).

Only these derived dimensions are kept; the User-Agent string and the client IP are not stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ua_parser

TV = re.compile(r"smart-?tv|googletv|appletv|crkey|roku|\baft[a-z]|tizen|web0s|webos|bravia|hbbtv|playstation|xbox",
                re.IGNORECASE)
TABLET = re.compile(r"ipad|tablet|kindle|silk/|playbook|(android(?!.*mobile))", re.IGNORECASE)
PHONE = re.compile(r"mobile|iphone|ipod|android.*mobile|windows phone", re.IGNORECASE)
BOT = re.compile(r"bot|crawler|spider|headless", re.IGNORECASE)


@dataclass(frozen=True)
class Client:
    browser: str | None
    os: str | None
    device_type: str | None


@lru_cache(maxsize=2048)
def _parse(user_agent: str, mobile_hint: str) -> Client:
    if not user_agent:
        return Client(None, None, None)
    result = ua_parser.parse(user_agent[:1000])
    browser = result.user_agent.family if result.user_agent else None
    os = result.os.family if result.os else None
    if TV.search(user_agent):
        device = "tv"
    elif TABLET.search(user_agent):
        device = "tablet"
    elif mobile_hint == "?1" or PHONE.search(user_agent):
        device = "phone"
    elif BOT.search(user_agent):
        device = "bot"
    else:
        device = "desktop"
    return Client(None if browser == "Other" else browser, None if os == "Other" else os, device)


def client_from_headers(user_agent: str, mobile_hint: str = "") -> Client:
    """`mobile_hint` is the sec-ch-ua-mobile header ("?1" on phones)."""
    return _parse(user_agent, mobile_hint.strip())
