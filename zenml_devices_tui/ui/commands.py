"""The command palette (ctrl+p) for the devices screen: every action, and "go to device <hostname>".

Registered on :class:`~zenml_devices_tui.ui.screens.devices.DevicesScreen` through its
``COMMANDS``, so it is offered only there; the screen says which actions apply right now
(``palette_commands``) and which devices exist (``palette_devices``). Hostnames come from
the server and are shown literally (``Content``, never markup).
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content


class PaletteScreen(Protocol):
    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]: ...

    def palette_devices(self) -> list[tuple[str, str, Callable[[], object]]]: ...


def _literal_highlight(matcher: Matcher, candidate: str) -> Content:
    """Like ``Matcher.highlight`` but without reading ``candidate`` as markup."""
    content = Content(candidate)
    score, offsets = matcher.fuzzy_search.match(matcher.query, candidate)
    if not score:
        return content
    style = getattr(matcher, "_match_style", None) or "bold underline"
    for offset in offsets:
        if not candidate[offset].isspace():
            content = content.stylize(style, offset, offset + 1)
    return content


class DevicesCommands(Provider):
    """Actions of the devices screen (only those that apply now) and one "go to" per device."""

    def _screen(self) -> PaletteScreen | None:
        screen = self.screen
        if hasattr(screen, "palette_commands") and hasattr(screen, "palette_devices"):
            return screen  # type: ignore[return-value]
        return None

    def _actions(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self._screen()
        return screen.palette_commands() if screen is not None else []

    def _devices(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self._screen()
        return screen.palette_devices() if screen is not None else []

    async def discover(self) -> Hits:
        for title, help_text, callback in self._actions():
            yield DiscoveryHit(Content(title), callback, text=title, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        entries: Iterable[tuple[str, str, Callable[[], object]]] = [*self._actions(), *self._devices()]
        for title, help_text, callback in entries:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, _literal_highlight(matcher, title), callback, text=title, help=help_text)
