"""The docs' Python examples run as pasted: the blocks of a page one after the other, in
one namespace, as a reader runs them (a later block uses what an earlier one made).

Pages whose examples train for minutes at their real size run here at a smaller one,
which the page itself states; the substitutions below are the only changes.
"""

import re
import textwrap
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"

#: The pages tested, with the (real, small) sizes the test substitutes.
PAGES = {
    "guide.rst": [],
    "phase_transitions.rst": [("n=500, deltas=", "n=100, deltas="),
                              ("n_trials=20, stop_after=2", "n_trials=3, stop_after=2")],
    "paper.rst": [],
    "unfolded.rst": [("make_bernoulli_gaussian(10_000)", "make_bernoulli_gaussian(500)"),
                     ("n_layers=16, verbose=True", "n_layers=3, verbose=True")],
    "learned.rst": [("paper_task(1000, 100, 100)", "paper_task(40, 10, 10)"),
                    ("max_epochs=100", "max_epochs=2"),
                    ("**PAPER_SETTINGS)", "**{**PAPER_SETTINGS, 'max_epochs': 2})")],
}


def python_blocks(text):
    """In the page's order, its ``.. code-block:: python`` blocks and its literal blocks
    (``::``) that are Python: those that import, or use ``sparserec.`` (a block that
    continues an earlier one)."""
    blocks = []
    pattern = r"(\.\. code-block:: python|::)\n\n((?:(?:   .*)?\n)+)"
    for match in re.finditer(pattern, text):
        code = textwrap.dedent(match.group(2))
        shell = code.lstrip().startswith(("python ", "sparserec ", "pip ", "$ "))
        if match.group(1) != "::" or code.lstrip().startswith(("import ", "from ")) \
                or ("sparserec." in code and not shell):
            blocks.append(code)
    return blocks


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_examples_of_a_page_run_in_order(page, tmp_path, monkeypatch):
    text = (DOCS / page).read_text()
    assert all(real in text for real, _ in PAGES[page])  # (else the test runs the full size)
    blocks = python_blocks(text)
    assert blocks
    monkeypatch.chdir(tmp_path)  # (examples write their files where they run)
    namespace = {}
    for code in blocks:
        for real, small in PAGES[page]:
            code = code.replace(real, small)
        exec(compile(code, page, "exec"), namespace)
