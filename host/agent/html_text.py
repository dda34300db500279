"""HTML as the text a reader sees: no tags, scripts, styles or comments; blocks on lines of their own.

The standard library's tokenizer is enough here: what is wanted is the visible text in reading
order with paragraphs kept apart, which a stream of start tags, end tags and data gives directly;
a DOM (BeautifulSoup, lxml) would add a dependency for nothing this needs. Its tokenizer also
treats script and style contents as opaque text, as browsers do, so markup inside a script never
leaks out as text.
"""

from __future__ import annotations

import time
from html.parser import HTMLParser

# Elements whose content is never shown as text.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "select"})
# Elements that start and end a block: their text goes on lines of its own.
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "html", "legend", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
        "tfoot", "thead", "title", "tr", "ul",
    }
)  # fmt: skip
# Blocks set apart by a blank line.
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre", "blockquote"})
_CELLS = frozenset({"td", "th"})


_CHUNK = 64 * 1024  # characters parsed between looks at the deadline


def html_to_text(html: str) -> str:
    """The readable text of an HTML document or fragment: the title first, then the body's text,
    one block per line, list items marked "- ", blank lines between paragraphs, images by their
    alt text."""
    return html_to_text_until(html, None)[0]


def html_to_text_until(html: str, deadline: float | None) -> tuple[str, int]:
    """html_to_text, stopping at `deadline` (a time.monotonic() value, looked at every 64 KiB
    or so): the text of what was parsed, and how many characters of `html` that was."""
    parser = _TextParser()
    parsed = 0
    while parsed < len(html):
        if deadline is not None and parsed and time.monotonic() > deadline:
            break
        parser.feed(html[parsed : parsed + _CHUNK])
        parsed = min(parsed + _CHUNK, len(html))
    parser.close()
    return parser.text(), parsed


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []  # finished blocks
        self._line: list[str] = []  # the block being read
        self._hidden: list[str] = []  # open hidden elements, innermost last
        self._pre = 0  # depth inside <pre>: whitespace kept
        self._title: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and set(self._hidden) <= {"head"}:  # not an <svg>'s title
            self._in_title = True  # inside <head>, which is hidden: kept apart
            return
        if self._hidden:
            if tag in _HIDDEN:
                self._hidden.append(tag)
            return
        if tag in _HIDDEN:
            self._hidden.append(tag)
            return
        if tag in _BLOCKS or tag == "br":
            self._break(paragraph=tag in _PARAGRAPHS)
        if tag == "pre":
            self._pre += 1
        elif tag == "li":
            self._line.append("- ")
        elif tag in _CELLS and self._line:
            self._line.append(" | ")
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self._line.append(f" [image: {alt}] ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:  # <svg/> and the like open nothing
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            return
        if self._hidden:
            if tag in self._hidden:
                # Close it and anything left open inside it (an unclosed <svg> in a <noscript>).
                del self._hidden[len(self._hidden) - 1 - self._hidden[::-1].index(tag) :]
            return
        if tag in _BLOCKS:
            self._break(paragraph=tag in _PARAGRAPHS)
        if tag == "pre" and self._pre:
            self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        elif not self._hidden:
            self._line.append(data if self._pre else _collapse(data))

    def _break(self, paragraph: bool) -> None:
        text = "".join(self._line)
        self._line = []
        if self._pre:
            self._lines.extend(line.rstrip() for line in text.strip("\n").split("\n"))
        else:
            text = " ".join(text.split())
            if text and text != "-":
                self._lines.append(text)
        if paragraph and self._lines and self._lines[-1] != "":
            self._lines.append("")

    def text(self) -> str:
        self._break(paragraph=False)
        title = " ".join("".join(self._title).split())
        lines = [title, ""] if title else []
        for line in self._lines:
            if line or (lines and lines[-1]):  # at most one blank line in a row
                lines.append(line)
        return "\n".join(lines).strip("\n")


def _collapse(text: str) -> str:
    """Each run of whitespace as one space, as a browser shows it (str.split is several times
    faster than a regular expression here, which scans every character)."""
    words = " ".join(text.split())
    if not words:
        return " " if text else ""
    return (" " if text[0].isspace() else "") + words + (" " if text[-1].isspace() else "")
