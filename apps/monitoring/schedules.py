"""When a monitor's window is due, and which window that is.

- **hourly / daily**: every hour or day, the last ``window_hours`` up to the evaluation;
- **cron**: a standard 5-field expression (minute hour day-of-month month day-of-week, in
  UTC); a firing evaluates the time since the previous firing. Fields are parsed by Celery's
  own crontab parser (numbers, ranges, lists, steps, month and weekday names); the matching
  is cron(5)'s: when both day fields are restricted, a day matching either fires (Celery's
  ``crontab`` requires both), and 7 is Sunday as well as 0;
- **capture volume**: a window once ``volume_rows`` new input rows of the endpoint have been
  captured since the last window; it evaluates the rows since the last window. The rows are
  counted from the capture store's listing and Parquet footers (``apps.gateway.selectors.
  capture_files``), never by reading them: a file is counted once, when it first appears.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

MAX_CRON_LENGTH = 100
# cron(5)'s fields: (name in messages, lowest, highest, whether names are allowed)
CRON_FIELDS = (
    ("minute", 0, 59, False),
    ("hour", 0, 23, False),
    ("day of the month", 1, 31, False),
    ("month", 1, 12, True),  # jan-dec
    ("day of the week", 0, 7, True),  # sun-sat; 0 and 7 are both Sunday
)
CRON_EXAMPLE = "“0 6 * * 1-5” is 06:00 UTC on weekdays, “*/30 * * * *” every half hour"
_DIGITS_ONLY = re.compile(r"^[0-9*,/-]+$")
SEARCH_DAYS = 366 * 9  # Feb 29 on a Monday fires once in a while: far enough for any valid expression


class CronError(ValueError):
    """An expression that is not a cron schedule, in words for the person who typed it."""


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of the month is "*"
    any_weekday: bool

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day, by_weekday = day.day in self.days, day.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday  # the unrestricted field matches every day
        return by_day or by_weekday  # cron(5): both restricted, either one fires

    def _times(self, day: date, *, reverse: bool = False):
        hours = reversed(self.hours) if reverse else self.hours
        for hour in hours:
            for minute in reversed(self.minutes) if reverse else self.minutes:
                yield datetime.combine(day, time(hour, minute), tzinfo=UTC)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment``."""
        moment = moment.astimezone(UTC)
        day = moment.date()
        for _ in range(SEARCH_DAYS):
            if self.fires_on(day):
                for firing in self._times(day):
                    if firing > moment:
                        return firing
            day += timedelta(days=1)
        raise CronError(f"“{self.expression}” never fires.")

    def previous_before(self, moment: datetime) -> datetime:
        """The last firing strictly before ``moment``."""
        moment = moment.astimezone(UTC)
        day = moment.date()
        for _ in range(SEARCH_DAYS):
            if self.fires_on(day):
                for firing in self._times(day, reverse=True):
                    if firing < moment:
                        return firing
            day -= timedelta(days=1)
        raise CronError(f"“{self.expression}” never fires.")

    def window(self, *, due_at: datetime, now: datetime) -> tuple[datetime, datetime]:
        """The window of a firing claimed at ``now`` that was due at ``due_at``: up to the latest
        firing (firings missed while nothing ran are not evaluated one by one), from the one before.
        An "evaluate now" (``due_at`` not a firing) ends at ``due_at``, since the previous firing."""
        end = max(due_at, self.previous_before(now + timedelta(microseconds=1)))
        return self.previous_before(end), end


def _field(spec: str, name: str, low: int, high: int, names: bool) -> set[int]:
    from celery.schedules import ParseException, crontab_parser

    shape = f"{low}–{high}, a range (1-5), a list (1,15), a step (*/15) or *"
    if not names and not _DIGITS_ONLY.match(spec):
        raise CronError(f"The {name} field “{spec}” is not valid: use numbers {shape}.")
    try:
        values = crontab_parser(high - low + 1, low).parse(spec.lower())
    except (ValueError, ParseException) as error:
        reason = str(error).rstrip(".")
        if "Invalid end range" in reason or "Invalid beginning range" in reason:
            reason = f"a value is outside {low}–{high}"
        elif "step" in reason or "filter" in reason:
            reason = "a step is a whole number above 0"
        elif "literal" in reason or "empty" in reason:
            reason = "it is not a number, a name or a range"
        extra = " (or names: jan–dec)" if name == "month" else " (or names: sun–sat)" if names else ""
        raise CronError(f"The {name} field “{spec}” is not valid: {reason}. Use {shape}{extra}.") from None
    return values


def cron_parse(expression) -> Cron:
    """A 5-field cron expression, checked; ``CronError`` says what is wrong in plain words."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronError(f"A cron expression of 5 fields (minute hour day-of-month month day-of-week): {CRON_EXAMPLE}.")
    text = " ".join(expression.split())
    if len(text) > MAX_CRON_LENGTH:
        raise CronError(f"At most {MAX_CRON_LENGTH} characters.")
    parts = text.split(" ")
    if len(parts) != 5:
        raise CronError(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week), “{text}” has "
            f"{len(parts)}: {CRON_EXAMPLE}."
        )
    values = [_field(spec, *field) for spec, field in zip(parts, CRON_FIELDS, strict=True)]
    minutes, hours, days, months, weekdays = values
    weekdays = {0 if day == 7 else day for day in weekdays}
    any_day, any_weekday = parts[2] == "*", parts[4] == "*"
    if not any_weekday or any(day <= calendar.monthrange(2024, month)[1] for month in months for day in days):
        cron = Cron(
            expression=text,
            minutes=tuple(sorted(minutes)),
            hours=tuple(sorted(hours)),
            days=frozenset(days),
            months=frozenset(months),
            weekdays=frozenset(weekdays),
            any_day=any_day,
            any_weekday=any_weekday,
        )
        return cron
    raise CronError(f"“{text}” never fires: no month it names has that day.")


# --- capture volume ------------------------------------------------------------------------------

RECENT_SECONDS = 300  # files modified this close to the cursor are remembered by name (a write still landing)


@dataclass
class VolumeCount:
    rows: int  # input rows in files new since the cursor
    cursor: dict  # {"modified": epoch, "recent": ["<day>/<name>", ...]}


def volume_count(*, endpoint: str, since: datetime, cursor: dict, until: datetime) -> VolumeCount:
    """The input rows captured for ``endpoint`` in files that appeared after ``cursor`` (the
    store's modification times, remembered by name near the cursor), counting only files with
    rows at or after ``since``; and the cursor moved on. Only listings and footers are read."""
    from apps.gateway import selectors as gateway_selectors

    modified = float(cursor.get("modified", 0.0))
    recent = set(cursor.get("recent", ()))
    low = modified - RECENT_SECONDS
    rows, newest, seen = 0, modified, []
    for found in gateway_selectors.capture_files(endpoint=endpoint, start=since, end=until, modified_after=low):
        key = f"{found.day}/{found.name}"
        seen.append((found.modified, key))
        newest = max(newest, found.modified)
        if key in recent:
            continue
        footer = gateway_selectors.capture_file_rows(endpoint=endpoint, day=found.day, name=found.name)
        if footer.last_time is None or footer.last_time >= since:
            rows += footer.input_rows
    keep = sorted(key for at, key in seen if at >= newest - RECENT_SECONDS)
    return VolumeCount(rows=rows, cursor={"modified": newest, "recent": keep})


# --- a monitor's schedule, as saved --------------------------------------------------------------

MAX_VOLUME_ROWS = 1_000_000_000


def schedule_check(merged: dict, *, source: str, errors: dict) -> dict:
    """The schedule fields of a monitor as they will be (``schedule``, ``cron``, ``volume_rows``),
    checked together; the values to store (the expression normalised, the other kind's cleared)."""
    from .models import Schedule, Source

    schedule = merged.get("schedule")
    clean = {"cron": "", "volume_rows": None}
    if schedule == Schedule.CRON:
        try:
            clean["cron"] = cron_parse(merged.get("cron")).expression
        except CronError as error:
            errors["cron"] = [str(error)]
    elif merged.get("cron"):
        errors.setdefault("cron", ['Only for the schedule "cron".'])
    if schedule == Schedule.VOLUME:
        rows = merged.get("volume_rows")
        if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_VOLUME_ROWS:
            errors["volume_rows"] = [f"How many new captured input rows make a window: 1 to {MAX_VOLUME_ROWS:,}."]
        if source != Source.ENDPOINT:
            errors["schedule"] = ["A capture-volume schedule watches an endpoint's traffic, not a dataset."]
        clean["volume_rows"] = rows
    elif merged.get("volume_rows") is not None:
        errors.setdefault("volume_rows", ['Only for the schedule "volume".'])
    return clean


def schedule_start(*, schedule: str, cron: str, now: datetime, new: bool) -> dict:
    """Where a monitor's scheduling starts: a new monitor's first window at once (a cron one's
    since the previous firing), a changed schedule's at its next firing; a volume one counts
    from now."""
    from .models import Schedule

    if schedule == Schedule.VOLUME:
        return {"next_due_at": None, "volume_since": now, "volume_seen": 0, "volume_cursor": {}}
    due = cron_parse(cron).next_after(now) if schedule == Schedule.CRON and not new else now
    return {"next_due_at": due, "volume_since": None, "volume_seen": 0, "volume_cursor": {}}
