"""Reading rendered pages the way a screen reader would: which controls have labels."""

from __future__ import annotations

from html.parser import HTMLParser

UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []  # attributes of each control, plus "wrapped"
        self.label_targets: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if attributes.get("for"):
                self.label_targets.add(attributes["for"])
        elif (
            tag in {"input", "select", "textarea"}
            and attributes.get("type") not in UNLABELLED_TYPES
        ):
            self.controls.append({**attributes, "tag": tag, "wrapped": self.open_labels > 0})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1


def unlabelled_controls(html: str) -> list[str]:
    """Form controls with neither a <label for=...>, a wrapping <label>, nor aria-label."""
    parser = _Controls()
    parser.feed(html)
    return [
        f"<{control['tag']} name={control.get('name')!r} id={control.get('id')!r}>"
        for control in parser.controls
        if not control["wrapped"]
        and control.get("id") not in parser.label_targets
        and not control.get("aria-label")
    ]
