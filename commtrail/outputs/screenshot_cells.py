"""The screenshot links of a case (timeline/screenshots.py) by exhibit number, as the exports and
the report show them: which exhibits a screenshot shows, which screenshots show an exhibit, and the
messages seen only in a screenshot."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from commtrail.case import Case
from commtrail.timeline.screenshots import ScreenshotLinks, screenshot_links

SCREENSHOT_COLUMNS = ("screenshot_shows", "shown_in_screenshots", "only_in_screenshot")


@dataclass
class ScreenshotCells:
    links: ScreenshotLinks = field(default_factory=ScreenshotLinks)
    exhibits: dict[str, str] = field(default_factory=dict)     # event_id -> exhibit, of linked events

    @classmethod
    def of(cls, case: Case) -> ScreenshotCells:
        """The links of ``case`` with the exhibit numbers of every event they name."""
        links = screenshot_links(case.root)
        ids = set(links.shows) | set(links.shown_in) | set(links.only)
        if not ids or not case.master_file.exists():
            return cls(links)
        table = pq.read_table(case.master_file, columns=["event_id", "exhibit"])
        table = table.filter(pc.is_in(table["event_id"], pa.array(sorted(ids), pa.string())))
        return cls(links, dict(zip(table["event_id"].to_pylist(), table["exhibit"].to_pylist())))

    def shows(self, event_id: str) -> list[str]:
        """Exhibit numbers of the messages a screenshot shows, in the order it shows them."""
        return [self.exhibits[e] for e in self.links.shows.get(event_id, [])]

    def shown_in(self, event_id: str) -> list[str]:
        """Exhibit numbers of the screenshots that show an event."""
        return [self.exhibits[e] for e in self.links.shown_in.get(event_id, [])]

    def only(self, event_id: str) -> list[tuple[int, str]]:
        """(OCR line, text) of each message a screenshot shows that no source holds."""
        return self.links.only.get(event_id, [])

    def columns(self, event_id: str) -> dict[str, str | None]:
        """The export columns of one event (None where there is nothing to say)."""
        return {"screenshot_shows": "; ".join(self.shows(event_id)) or None,
                "shown_in_screenshots": "; ".join(self.shown_in(event_id)) or None,
                "only_in_screenshot": "\n".join(text for _, text in self.only(event_id)) or None}
