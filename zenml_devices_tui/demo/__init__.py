"""The embedded demo server: a fake zenml 0.98.0 server behind ``httpx.MockTransport``.

Only the standard library and httpx are used here (no Textual), so the demo serves the UI, the tests
and the benchmarks alike. Start with :class:`zenml_devices_tui.demo.server.DemoServer`.
"""
