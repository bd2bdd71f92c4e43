"""Griffe extension for the API reference: Sphinx cross-reference roles become links.

The docstrings are numpydoc, written for Sphinx: ``:func:`~cmbml.sphere.map2alm``` and
``:class:`Stage``` name other objects, and a paragraph ending in ``::`` introduces a literal block.
MkDocs renders docstrings as Markdown, so each role becomes an autorefs link to the object's
entry in the reference when the object is documented there (looked up as Sphinx does: as written,
then relative to the enclosing class, module and packages), and inline code otherwise (an object
of another library, a private helper); ``::`` becomes ``:``.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|obj|exc|const):`(~?)([\w.]+)`")
LITERAL_MARK = re.compile(r"(?<=\S)::$", re.M)


def _find(collection: griffe.ModulesCollection, path: str) -> griffe.Object | None:
    """The object at a dotted path, aliases followed, or None."""
    try:
        obj = collection.get_member(path)
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    try:
        obj = obj.final_target if obj.is_alias else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    # __init__ is documented with its class (merge_init_into_class)
    return obj.parent if obj.name == "__init__" else obj


def _documented(obj: griffe.Object) -> bool:
    """Whether the reference renders ``obj``: public names, docstrings down from the module."""
    names = obj.path.split(".")[1:]
    if any(name.startswith("_") and not name.endswith("__") for name in names):
        return False
    while not obj.is_module:
        if not obj.docstring:
            return False
        obj = obj.parent
    return True


def _scopes(obj: griffe.Object) -> list[str]:
    """Where a relative name is looked up from ``obj``: itself, then its parents."""
    scopes = [""]
    while obj is not None:
        scopes.append(obj.path + ".")
        obj = obj.parent
    return scopes


class SphinxRoles(griffe.Extension):
    """Rewrites the docstrings of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        """Rewrite every docstring of ``pkg`` once the whole package is loaded."""
        self._rewrite(pkg, loader.modules_collection)

    def _rewrite(self, obj: griffe.Object, collection: griffe.ModulesCollection) -> None:
        if obj.docstring:
            obj.docstring.value = self._text(obj, obj.docstring.value, collection)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, collection)

    def _text(self, obj: griffe.Object, text: str, collection: griffe.ModulesCollection) -> str:
        def link(match: re.Match) -> str:
            short, name = match.group(1), match.group(2)
            shown = f"`{name.rsplit('.', 1)[-1] if short else name}`"
            for scope in _scopes(obj):
                target = _find(collection, scope + name)
                if target is not None:
                    return f"[{shown}][{target.path}]" if _documented(target) else shown
            return shown

        return LITERAL_MARK.sub(":", ROLE.sub(link, text))
