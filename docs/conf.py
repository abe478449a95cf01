"""Sphinx configuration of the sparserec documentation."""

import sparserec

project = "sparserec"
author = "the sparserec developers"
release = version = sparserec.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_click",
]
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
autodoc_default_options = {"members": False}
intersphinx_mapping = {}
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
