"""The benchmark's sections, one module each, in the order a run takes them (`--only` picks some).

Each module's `run(bench)` measures its section and adds its figures and raw figures to the run
(`bench.context.Bench`); its targets are the constants at its top. The section `import` lives in
`import_.py` (`import` is a Python keyword).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.context import Bench

SECTIONS = ("seed", "endpoints", "cold", "http", "export", "import", "collect", "freshness")


def runner(name: str) -> Callable[[Bench], None]:
    """The `run(bench)` of a section."""
    module = importlib.import_module(f"bench.sections.{'import_' if name == 'import' else name}")
    return module.run
