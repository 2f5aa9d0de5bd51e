"""Reporting toolkit: PDF rendering, SVG charts and streamed CSV/JSONL exports.

Submodules are imported explicitly (``from governance.kernel.reports import charts``)
so that importing the package costs nothing: matplotlib and WeasyPrint are
loaded only when a chart or a PDF is actually rendered.
"""
