"""Textual's Footer without the leak of Textualize/textual#6666.

Every recompose (the bindings changed, e.g. lock ↔ unlock as the cursor moves) yields new
``FooterKey`` widgets bound with ``data_bind(compact=Footer.compact)``. That leaves a watcher
on the Footer per key which is never removed, so every old key stays referenced: ~50 KB a
recompose. After each recompose, drop the watchers whose widget is gone.
"""

from __future__ import annotations

from textual.widgets import Footer


class AppFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        self.drop_dead_watchers()

    def drop_dead_watchers(self) -> None:
        # reactive.py keeps them in the attribute "__watchers" (set with setattr: no name mangling),
        # a dict of reactive name -> [(watching node, callback), ...].
        watchers = getattr(self, "__watchers", None)
        if not isinstance(watchers, dict):
            return
        for entries in watchers.values():
            entries[:] = [
                (node, callback)
                for node, callback in entries
                if not (getattr(node, "_closing", False) or getattr(node, "_closed", False))
            ]
