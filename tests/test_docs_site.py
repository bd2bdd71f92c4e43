"""The documentation site builds with warnings as errors and documents every public module; the
README stays a short entry point whose links resolve; the ILC page's example runs.

The build needs the ``dev`` extra (MkDocs, Material, mkdocstrings); the test fails, not skips,
without it, so that CI always builds the site.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.readme_commands import REPO, documentation_files

SETUP_AND_RUN = (
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && python main_all.py'
)
TEST_COMMAND = "python -m pytest"


def public_modules() -> list[str]:
    """Dotted names of every module of ``cmbml`` whose name has no leading underscore."""
    names = []
    for path in sorted((REPO / "cmbml").rglob("*.py")):
        parts = ["cmbml", *path.relative_to(REPO / "cmbml").with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1 and not any(p.startswith("_") for p in parts[1:]):
            names.append(".".join(parts))
    return names


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built by ``mkdocs build --strict`` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        "mkdocs build --strict failed (the docs packages come with pip install -e '.[dev]'):\n"
        + proc.stdout[-3000:]
        + proc.stderr[-5000:]
    )
    return out


def visible_text(markup: str) -> str:
    """The visible text of HTML, whitespace collapsed."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", text)))


def page_text(path: Path) -> str:
    """The visible text of an HTML page."""
    return visible_text(path.read_text())


def test_every_page_is_built(site):
    for page in documentation_files()[1:]:
        rel = page.relative_to(REPO / "docs").with_suffix("")
        folder = rel.parent if rel.name == "index" else rel
        assert (site / folder / "index.html").exists(), f"{page} was not built"
    assert "CNILC error rms" in page_text(site / "ilc" / "index.html")


def test_api_reference_documents_every_public_module(site):
    anchors = set()
    for page in (site / "api").rglob("index.html"):
        anchors |= set(re.findall(r'id="(cmbml[\w.]*)"', page.read_text()))
    missing = [m for m in public_modules() if m not in anchors]
    assert not missing, f"modules missing from docs/api/*.md (add a '::: name' line): {missing}"


def test_api_reference_is_the_docstrings(site):
    """A function's numpydoc sections appear as rendered parameters, from its own docstring."""
    from cmbml.ilc import needlet_ilc

    text = page_text(site / "api" / "ilc" / "index.html")
    summary = needlet_ilc.__doc__.strip().splitlines()[0].split("(")[0].strip()
    assert summary in text
    anchor = 'id="cmbml.ilc.needlet.needlet_ilc"'
    section = (site / "api" / "ilc" / "index.html").read_text().split(anchor, 1)[1]
    section = visible_text(section[:40000])
    for parameter in ("maps", "beam_fwhm_arcmin", "output_fwhm_arcmin", "ellpeaks"):
        assert re.search(rf"\b{parameter}\b", section)
    assert "Parameters:" in section and "uK_CMB" in section


def test_sphinx_roles_become_links(site):
    """``:func:`ilc_bias_fwhm``` in a docstring is a link to that function's entry; no role is
    left as text anywhere in the reference."""
    ilc = (site / "api" / "ilc" / "index.html").read_text()
    assert re.search(r'href="#cmbml\.ilc\.covariance\.ilc_bias_fwhm"><code>ilc_bias_fwhm<', ilc)
    for page in (site / "api").rglob("index.html"):
        leftover = re.findall(r":(?:func|meth|class|mod|data|attr|exc):", page_text(page))
        assert not leftover, f"{page}: {leftover[:5]}"


def test_readme_is_a_short_entry_point():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    blocks = re.findall(r"^```bash\n(.*?)^```", readme, re.S | re.M)
    assert SETUP_AND_RUN in [line for block in blocks for line in block.splitlines()]
    assert TEST_COMMAND in [block.strip() for block in blocks]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(TEST_COMMAND)}$", ci, re.M), "CI runs the README's tests"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert any(link.startswith("docs/") for link in local)
    broken = [link for link in local if not (REPO / link).exists()]
    assert not broken, f"README links to missing files: {broken}"


def test_ilc_page_example_runs():
    """The Python example of the ILC page runs on the shipped demo simulation and the CNILC
    map it makes is close to the truth (error rms under a fifth of the CMB's)."""
    page = (REPO / "docs" / "ilc.md").read_text()
    example = re.findall(r"^```python\n(.*?)^```", page, re.S | re.M)[0]
    proc = subprocess.run(
        [sys.executable, "-c", example],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cmb_rms, error_rms = map(float, re.findall(r"([\d.]+) uK", proc.stdout))
    assert 30 < cmb_rms < 150
    assert error_rms < cmb_rms / 5
    assert f"CMB rms {cmb_rms:.1f} uK, CNILC error rms {error_rms:.1f} uK" in page
