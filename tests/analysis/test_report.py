"""The HTML report: built by the real pipeline from a tiny analysed dataset, read as text, then
loaded and clicked in a real headless Chromium."""

import html
import json
import os
import re
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from cmbml.analysis import report_html as rh
from cmbml.core import MissingInputError, run_pipeline
from cmbml.core.version import code_version
from tests.analysis.chromium import Browser, find_chromium
from tests.analysis.test_stages import STAGES, _config, _write_inputs

REPORT_STAGES = (*STAGES, "pyilc_analysis_figures", "analysis_compare", "analysis_report")
EVIL = "<script>alert(1)</script> & co"


@pytest.fixture(scope="module")
def reported(tmp_path_factory, theory_cl, gaussian_alm, cut_masks):
    """A dataset analysed for two methods, compared and reported by the real stages."""
    root = tmp_path_factory.mktemp("report")
    cfg = _config(root, "model.analysis.n_show_cap=1", stages=REPORT_STAGES)
    _write_inputs(cfg, theory_cl, gaussian_alm, cut_masks)
    reports = run_pipeline(cfg)
    assert reports["analysis_report"].ran == 1
    return root / cfg.dataset_name, cfg


@pytest.fixture(scope="module")
def extended(reported, tmp_path_factory):
    """A copy with more leaderboards, as other stages write them: a generalisation table whose
    method names need escaping, and a Markdown-only table under another protocol; reported
    again."""
    data, cfg = reported
    root = tmp_path_factory.mktemp("extended")
    shutil.copytree(data, root / data.name)
    folder = root / data.name / "Comparison"
    table = pd.DataFrame(
        {
            "model": ["CNILC", EVIL],
            "split": ["Test", "Test"],
            "rmse_mean": [1.5, 0.5],
            "rmse_std": [0.1, 0.2],
            "degradation": [0.25, float("nan")],
        }
    )
    table.to_csv(folder / "matched/generalisation.csv", index=False)
    (folder / "iccv2025/beam_20.6").mkdir(parents=True)
    md = (folder / "matched/pixel_comparison.md").read_text()
    (folder / "iccv2025/beam_20.6/pixel_comparison.md").write_text(md)
    ran = run_pipeline(_config(root, stages=["analysis_report"]))["analysis_report"].ran
    return root / data.name, ran


def _manifest(data: Path, key: str) -> dict:
    return json.loads((data / "Manifests" / key / "all.json").read_text())


def _links(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', page)


def test_report_shows_the_leaderboards_and_what_is_behind_each_method(reported):
    data, cfg = reported
    page = (data / "Comparison/report.html").read_text()
    for source in ("matched/pixel_comparison.csv", "matched/ps_comparison.csv"):
        assert f'data-source="{source}"' in page
    board = pd.read_csv(data / "Comparison/matched/pixel_comparison.csv")
    for model, rmse in zip(board["model"], board["rmse_mean"], strict=True):
        assert f'<td class="text">{model}</td>' in page
        assert f'data-v="{rmse!r}"' in page
    for key in ("pyilc_analysis_summaries/PyILC_CNILC/matched", "analysis_mask/matched"):
        assert f'<td class="text">{key}</td>' in page
        # the config hash written by the pipeline in the unit's manifest, and its record
        assert f'<td class="text">{_manifest(data, key)["hash"]}</td>' in page
        record = (data / "Manifests" / key / "stage.yaml").read_text()
        assert f"hash: {_manifest(data, key)['hash']}" in record and "config:" in record
    # each method's trail holds its own stages only, with one unit per test simulation
    cnilc, cmbnncs = page.split("<h3>CNILC</h3>")[1].split("<h3>CMBNNCS</h3>")
    assert "cmbnncs_analysis" not in cnilc and "pyilc_analysis" not in cmbnncs
    for part, key in ((cnilc, "pyilc"), (cmbnncs, "cmbnncs")):
        working = {"pyilc": "PyILC_CNILC", "cmbnncs": "CMBNNCS"}[key]
        stage = f"{key}_analysis_postprocess/{working}/matched"
        assert f'<td class="text">{stage}</td><td data-v="3">3</td>' in part
        # a stage after those it read from: mask, post-processing, summaries
        steps = ["analysis_mask/matched", stage, f"{key}_analysis_summaries/{working}/matched"]
        assert sorted(steps, key=part.index) == steps
    assert html.escape(code_version()) in page and code_version().startswith("cmbml 0.1.0")
    assert page.count("<h3>") >= 4  # two leaderboards, the figures, two methods


def test_report_needs_nothing_outside_the_dataset(reported):
    data, _ = reported
    page = (data / "Comparison/report.html").read_text()
    links = _links(page)
    assert sum(link.startswith("data:image/png;base64,") for link in links) == 1
    files = [link for link in links if not link.startswith(("data:", "#"))]
    assert files and not [link for link in files if ":" in link or link.startswith("/")]
    assert all((data / "Comparison" / link).is_file() for link in files)
    assert "@import" not in page and "url(" not in page


def test_report_is_up_to_date_until_a_leaderboard_appears(reported, extended):
    data, cfg = reported
    assert run_pipeline(cfg)["analysis_report"].ran == 0
    copy, ran = extended
    assert ran == 1
    page = (copy / "Comparison/report.html").read_text()
    for source in ("matched/generalisation.csv", "iccv2025/beam_20.6/pixel_comparison.md"):
        assert f'data-source="{source}"' in page
    assert "<script>alert" not in page and html.escape(EVIL) in page
    assert '<section id="protocol-iccv2025">' in page


def test_no_leaderboard_is_a_clear_error(tmp_path):
    with pytest.raises(MissingInputError, match="no leaderboard .*Comparison.*analysis_compare"):
        run_pipeline(_config(tmp_path, stages=["analysis_report"]))
    assert not list(tmp_path.rglob("report*.html"))


def test_polarised_leaderboard_is_one_table_per_block():
    board = pd.DataFrame(
        {
            "spectrum": ["EE", "TT", "TT", "EE"],
            "model": ["A", "A", "B", "B"],
            "protocol": "matched",
            "ell_min": [2, 2, 2, 2],
            "ell_max": [32, 32, 32, 32],
            "theory_rmse_mean": [3.0, 1.0, 2.0, 4.0],
            "theory_rmse_std": [0.1, 0.1, 0.1, 0.1],
        }
    )
    blocks = rh.csv_tables(board, "x.csv")
    assert [t.title for t in blocks] == ["TT (2 <= l <= 32)", "EE (2 <= l <= 32)"]
    assert [t.header for t in blocks] == [["model", "theory_rmse"]] * 2
    assert [[c.best for c in row] for row in blocks[1].rows] == [[False, True], [False, False]]


def test_markdown_table_keeps_caption_titles_and_bold():
    text = "*Protocol: x.*\n\n**TT**\n\n| model | mae |\n| --- | ---: |\n| A | **1 ± 2** |\n"
    caption, found = rh.markdown_tables(text, "t.md")
    assert caption == "Protocol: x."
    assert found[0].title == "TT" and found[0].header == ["model", "mae"]
    assert found[0].rows == [[rh.Cell("A"), rh.Cell("1 ± 2", 1.0, True)]]


# -- in a real browser -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def _rows(browser: Browser, source: str, column: int = 0) -> list[str]:
    return browser.evaluate(
        f"Array.from(document.querySelectorAll('table[data-source=\"{source}\"] tbody tr'))"
        f".map(r => r.cells[{column}].textContent)"
    )


def test_report_in_chromium(extended, chromium, tmp_path):
    data, _ = extended
    page = data / "Comparison/report.html"
    with Browser(chromium, tmp_path / "profile") as browser:
        browser.open(page.as_uri())
        assert browser.evaluate("document.documentElement.dataset.reportReady") == "1"
        assert browser.evaluate("document.documentElement.dataset.reportError") is None
        pixel = "matched/pixel_comparison.csv"
        assert _rows(browser, pixel) == ["CNILC", "CMBNNCS"]
        assert _rows(browser, "matched/generalisation.csv") == ["CNILC", EVIL]
        md = "iccv2025/beam_20.6/pixel_comparison.md"
        assert _rows(browser, md) == ["CNILC", "CMBNNCS"]
        assert browser.evaluate("document.scripts.length") == 2  # the page's own two
        images = browser.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth > 0])"
        )
        assert len(images) >= 4 and all(loaded == [True, True] for loaded in images)
        resources = browser.evaluate(
            "performance.getEntriesByType('resource').map(e => e.name.split(':')[0])"
        )
        assert set(resources) <= {"file", "data"}

        # sort the generalisation table by rmse (3rd column): up, then down
        header = 'table[data-source="matched/generalisation.csv"] th:nth-child(3) button'
        browser.click(header)
        assert _rows(browser, "matched/generalisation.csv") == [EVIL, "CNILC"]
        browser.click(header)
        assert _rows(browser, "matched/generalisation.csv") == ["CNILC", EVIL]
        sort = browser.evaluate(
            'document.querySelector(\'table[data-source="matched/generalisation.csv"] '
            "th:nth-child(3)').getAttribute('aria-sort')"
        )
        assert sort == "descending"
        missing = header.replace("nth-child(3)", "nth-child(4)")  # degradation, one missing
        for _ in range(2):  # ascending, descending: the missing value stays last
            browser.click(missing)
            assert _rows(browser, "matched/generalisation.csv") == ["CNILC", EVIL]
        browser.click(f'table[data-source="{pixel}"] th:nth-child(1) button')
        assert _rows(browser, pixel) == ["CMBNNCS", "CNILC"]

        png = browser.screenshot()
        assert browser.problems() == []
    shot = tmp_path / "report.png"
    shot.write_bytes(png)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 1000 and pixels.shape[1] > 1000
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(colours) > 100  # text, tables and figures, not a blank page
