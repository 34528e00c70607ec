"""What the tests of the review app read in the report it has written."""

import re


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start:html.index("</section>", start)]


def listed_exhibits(html: str) -> list[str]:
    """The exhibits the report's exhibit log lists."""
    return re.findall(r'<tr id="(CT-\d+)">', _section(html, "exhibits"))


def reviewer_notes(html: str) -> list[tuple[str, str]]:
    """(exhibit, note) of each row of the report's "Reviewer's notes"."""
    return re.findall(r'<tr><td><a href="#(CT-\d+)">.*?<td class="text" dir="auto">(.*?)</td>', _section(html, "notes"))
