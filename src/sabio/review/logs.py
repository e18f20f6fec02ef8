"""Suspicious activity in logs: bursts of failed logins from one source (and a login that
succeeds after one), scans (many paths, or many ports, probed from one source), and a
user's logins from a place never seen before for that user (from a country never seen,
when the addresses have one: :mod:`.places`), or at an hour they do not log in at.

A document is read as a log when most of its first lines start with a timestamp (syslog's
``Dec  3 10:17:28``, ISO 8601, or a web server's ``[03/Dec/2026:10:17:28 +0000]`` after
the client's address). Lines are matched with the formats of OpenSSH, PAM, su/sudo,
web servers' access logs (a POST to a login page answered 401 or 403) and netfilter
(``SRC=… DPT=…``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sabio.review.findings import Severity
from sabio.review.places import country_of
from sabio.review.secrets import Hit

BURST_FAILURES = 5
BURST_WINDOW = 600  # seconds
SCAN_TARGETS = 15
NEW_PLACE_AFTER = 10  # a settled history: a new place before it is just a second one
ODD_HOURS = range(0, 6)  # night, in the log's own time
ODD_HOUR_HISTORY = 5  # logins a user needs before an hour can be odd for them
ODD_HOUR_SHARE = 0.1  # at most this share of a user's logins at night: night is odd
WEB_SESSION = 1800  # seconds: an authenticated user's requests from one place, one login

_SYSLOG_TIME = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)")
_ISO_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)")
_ACCESS = re.compile(
    r"^(\S+) \S+ (\S+) \[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)[^\]]*\] "
    r'"([A-Z]{3,7}) (\S{1,2000}) [^"]{0,20}" (\d{3})'
)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_FAILED = re.compile(
    r"Failed (?:password|publickey|keyboard-interactive/pam) for (?:invalid user )?(\S+) from "
    r"(\S+)|Invalid user (\S*) from (\S+)|authentication failure;.*?rhost=(\S+)(?:\s+user=(\S+))?"
    r"|Connection closed by authenticating user (\S+) (\S+)"
)
_ACCEPTED = re.compile(
    r"Accepted (?:password|publickey|keyboard-interactive/pam) for (\S+) from (\S+)"
)
_FIREWALL = re.compile(r"SRC=(\S+) .*?DPT=(\d+)")
_LOGIN_PATH = re.compile(r"(?i)login|signin|wp-login|auth|session|xmlrpc")


@dataclass(slots=True)
class _Event:
    time: float
    line_start: int
    line_end: int
    source: str
    user: str
    hour: int = -1


def looks_like_log(text: str) -> bool:
    lines = [line for line in text[:20_000].split("\n")[:50] if line.strip()]
    timed = sum(1 for line in lines if _time_of(line) is not None)
    return len(lines) >= 3 and timed >= 0.6 * len(lines)


def _time_of(line: str) -> float | None:
    if m := _SYSLOG_TIME.match(line):
        month = _MONTHS.get(m.group(1))
        if month is None:
            return None
        day, hh, mm, ss = (int(g) for g in m.groups()[1:])
        return (((month * 31 + day) * 24 + hh) * 60 + mm) * 60 + ss
    if m := _ISO_TIME.match(line):
        try:
            y, mo, d, hh, mm, ss = (int(g) for g in m.groups())
            return datetime(y, mo, d, hh, mm, ss).timestamp()
        except ValueError:
            return None
    if m := _ACCESS.match(line):
        return _access_time(m)
    return None


def _access_time(m: re.Match[str]) -> float | None:
    try:
        return datetime(
            int(m.group(5)),
            _MONTHS.get(m.group(4), 1),
            int(m.group(3)),
            int(m.group(6)),
            int(m.group(7)),
            int(m.group(8)),
        ).timestamp()
    except ValueError:
        return None


def _hour_of(line: str) -> int:
    for pattern, group in ((_SYSLOG_TIME, 3), (_ISO_TIME, 4), (_ACCESS, 6)):
        if m := pattern.match(line):
            return int(m.group(group))
    return -1


def find_log_activity(text: str) -> Iterator[Hit]:
    if not looks_like_log(text):
        return
    failures: dict[str, list[_Event]] = defaultdict(list)
    accepted: list[_Event] = []
    probes: dict[str, list[tuple[_Event, str]]] = defaultdict(list)
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        _read_line(line, start, failures, accepted, probes)
    yield from _bursts(failures, accepted)
    yield from _scans(probes)
    yield from _logins(accepted)


def _read_line(
    line: str,
    start: int,
    failures: dict[str, list[_Event]],
    accepted: list[_Event],
    probes: dict[str, list[tuple[_Event, str]]],
) -> None:
    when = _time_of(line)
    if when is None:
        return
    end = start + len(line)
    if access := _ACCESS.match(line):
        source, method, path, status = (
            access.group(1),
            access.group(9),
            access.group(10),
            access.group(11),
        )
        event = _Event(when, start, end, source, access.group(2), _hour_of(line))
        if event.user != "-" and int(status) < 400:
            accepted.append(event)
        if method == "POST" and status in ("401", "403") and _LOGIN_PATH.search(path):
            failures[source].append(event)
        if status in ("400", "401", "403", "404", "405"):
            probes[source].append((event, path.split("?")[0]))
        return
    if failed := _FAILED.search(line):
        user, source = _user_and_source(failed)
        failures[source].append(_Event(when, start, end, source, user))
    elif ok := _ACCEPTED.search(line):
        accepted.append(_Event(when, start, end, ok.group(2), ok.group(1), _hour_of(line)))
    elif probe := _FIREWALL.search(line):
        probes[probe.group(1)].append(
            (_Event(when, start, end, probe.group(1), ""), "port " + probe.group(2))
        )


def _user_and_source(failed: re.Match[str]) -> tuple[str, str]:
    """(user, source) from whichever alternative of _FAILED matched."""
    g = failed.groups()
    if g[1]:
        return g[0], g[1]
    if g[3]:
        return g[2] or "", g[3]
    if g[4]:
        return g[5] or "", g[4]
    return g[6] or "", g[7] or ""


def _bursts(failures: dict[str, list[_Event]], accepted: list[_Event]) -> Iterator[Hit]:
    for source, events in failures.items():
        burst = _densest(events)
        if len(burst) < BURST_FAILURES:
            continue
        first, last = burst[0], burst[-1]
        users = sorted({e.user for e in burst if e.user})
        details = {
            "source": source,
            "count": str(len(burst)),
            "minutes": str(max(1, round((last.time - first.time) / 60))),
            "users": ", ".join(users[:5]) + (" …" if len(users) > 5 else ""),
        }
        yield Hit(
            "failed_login_burst", Severity.HIGH, first.line_start, first.line_end, source, details
        )
        for success in accepted:
            if success.source == source and first.time <= success.time <= last.time + 3600:
                yield Hit(
                    "login_after_burst",
                    Severity.HIGH,
                    success.line_start,
                    success.line_end,
                    source,
                    {**details, "user": success.user},
                )


def _densest(events: list[_Event]) -> list[_Event]:
    """The most events within BURST_WINDOW seconds of one another."""
    events = sorted(events, key=lambda e: e.time)
    best: list[_Event] = []
    left = 0
    for right in range(len(events)):
        while events[right].time - events[left].time > BURST_WINDOW:
            left += 1
        if right - left + 1 > len(best):
            best = events[left : right + 1]
    return best


def _scans(probes: dict[str, list[tuple[_Event, str]]]) -> Iterator[Hit]:
    for source, seen in probes.items():
        targets = {target for _, target in seen}
        if len(targets) < SCAN_TARGETS:
            continue
        first = min((event for event, _ in seen), key=lambda e: e.time)
        what = "ports" if all(t.startswith("port ") for t in targets) else "paths"
        yield Hit(
            "scan",
            Severity.MEDIUM,
            first.line_start,
            first.line_end,
            source,
            {"source": source, "count": str(len(targets)), "what": what},
        )


def _place(source: str) -> str:
    """Where a login comes from: an IPv4 address's /24 network, an IPv6 address's /48,
    a host name's domain (its last two labels); a neighbour's address is the same place."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", source):
        return source.rsplit(".", 1)[0] + ".0/24"
    if ":" in source:
        return ":".join(source.lower().split(":")[:3]) + "::/48"
    return ".".join(source.lower().rsplit(".", 2)[-2:])


def _sessions(accepted: list[_Event]) -> list[_Event]:
    """Logins in time order: an SSH login each, a web user's requests from one place one
    login until WEB_SESSION seconds pass without one."""
    logins: list[_Event] = []
    last: dict[tuple[str, str], float] = {}
    for event in sorted(accepted, key=lambda e: e.time):
        key = (event.user, event.source)
        previous = last.get(key)
        last[key] = event.time
        if previous is None or event.time - previous > WEB_SESSION:
            logins.append(event)
    return logins


def _logins(accepted: list[_Event]) -> Iterator[Hit]:
    by_user: dict[str, list[_Event]] = defaultdict(list)
    for login in _sessions(accepted):
        by_user[login.user].append(login)
    for user, logins in by_user.items():
        seen: set[str] = set()
        countries: set[str] = set()
        for i, login in enumerate(logins):
            place, country = _place(login.source), country_of(login.source)
            details = {"user": user, "source": login.source, "count": str(i)}
            if i >= NEW_PLACE_AFTER and countries and country and country not in countries:
                details |= {"country": country, "countries": ", ".join(sorted(countries))}
                yield Hit(
                    "login_new_country",
                    Severity.HIGH,
                    login.line_start,
                    login.line_end,
                    login.source,
                    details,
                )
            elif place not in seen and i >= NEW_PLACE_AFTER:
                yield Hit(
                    "login_new_place",
                    Severity.MEDIUM,
                    login.line_start,
                    login.line_end,
                    login.source,
                    details,
                )
            seen.add(place)
            countries.update([country] if country else [])
        yield from _odd_hours(user, logins)


def _odd_hours(user: str, logins: list[_Event]) -> Iterator[Hit]:
    night = [login for login in logins if login.hour in ODD_HOURS]
    if len(logins) < ODD_HOUR_HISTORY or len(night) > ODD_HOUR_SHARE * len(logins):
        return
    for login in night:
        yield Hit(
            "login_odd_hour",
            Severity.MEDIUM,
            login.line_start,
            login.line_end,
            login.source,
            {
                "user": user,
                "source": login.source,
                "hour": f"{login.hour:02d}",
                "count": str(len(logins) - len(night)),
            },
        )
