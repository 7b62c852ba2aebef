"""Item bodies: Graph's HTML <-> Salesforce's plain ``Description`` (a lossy mapping, R-M4 / R-C1).

The text form keeps what a reader sees: block elements and ``<br>`` become line breaks, ``<head>``,
``<style>``, ``<script>`` and comments disappear, entities are decoded. Exchange wraps every body it
stores in its own ``<html><head><meta ...>`` boilerplate, which is why bodies are compared across
sides only in this text form (frame.py), never as HTML.

Pure standard library.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "dd", "dt",
}
_SKIP = {"head", "style", "script", "title"}
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            # Source line breaks inside HTML are layout, not content.
            self.parts.append(data.replace("\r", " ").replace("\n", " "))


def html_to_text(markup: str | None) -> str | None:
    """The text a reader sees in an HTML body; None stays None."""
    if markup is None:
        return None
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = [_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return text


def text_to_html(text: str | None) -> str | None:
    """Plain text as minimal HTML (escaped, line breaks kept): for clients that insist on HTML."""
    if text is None:
        return None
    return "<html><body>" + html.escape(text).replace("\r\n", "\n").replace("\n", "<br>") + "</body></html>"


def looks_like_html(text: str | None) -> bool:
    return bool(text) and bool(re.search(r"<\s*(html|body|div|p|br|span|table)\b", text or "", re.I))
