"""A status's HTML content turned back into the text that was posted."""

from __future__ import annotations

from html.parser import HTMLParser


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._break_pending = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._emit("\n")
        elif tag == "p":
            self._break_pending = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._break_pending = True

    def handle_data(self, data: str) -> None:
        self._emit(data)

    def _emit(self, text: str) -> None:
        if self._break_pending and self.parts:
            self.parts.append("\n\n")
        self._break_pending = False
        self.parts.append(text)


def plain_text_from_html(content: str) -> str:
    """A status's `content` HTML as the text that was posted (links complete, tags stripped)."""
    # Mastodon shortens long links with <span class="invisible"> and "ellipsis" parts that are
    # hidden by CSS only, so keeping every text node gives back the whole URL.
    extractor = _TextExtractor()
    extractor.feed(content)
    extractor.close()
    return "".join(extractor.parts).strip()
