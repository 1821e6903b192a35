"""The explorer and the HTML report in a real browser, opened from disk with no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlstix.findings.formats import render
from mlstix.findings.model import Finding, Location, Report, ScannedFile, Severity
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import Cloud
from mlstix.kb.render.site import write_site
from mlstix.kb.render.site._data import tokens

from .conftest import Watched

pytestmark = pytest.mark.browser

_GRAPH_READY = "() => window.mlstixGraph && window.mlstixGraph.nodes().length > 0"


@pytest.fixture(scope="module")
def site(kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    write_site(kb, out)
    return out


def _open_graph(w: Watched, site: Path) -> Any:
    w.page.goto((site / "index.html").as_uri())
    w.page.wait_for_function(_GRAPH_READY)
    return w.page


def test_graph_draws_every_node_and_edge_inside_the_view(
    watched: Watched, site: Path, kb: KnowledgeBase, artifacts: Path
) -> None:
    page = _open_graph(watched, site)
    count = page.evaluate("() => window.mlstixGraph.nodes(':visible').length")
    assert count == len(kb.objects) == 29
    edges = sum(1 for r in kb.relationships if r.type in ("targets", "mitigates"))
    assert page.evaluate("() => window.mlstixGraph.edges(':visible').length") == edges
    box = page.locator("#graph").bounding_box()
    outside = page.evaluate(
        """([w, h]) => window.mlstixGraph.nodes().filter(n => {
            const b = n.renderedBoundingBox();
            return b.x1 < -1 || b.y1 < -1 || b.x2 > w + 1 || b.y2 > h + 1;
        }).map(n => n.id())""",
        [box["width"], box["height"]],
    )
    assert outside == []
    # the canvas really has pixels drawn: not one flat colour
    shot = page.locator("#graph").screenshot(path=str(artifacts / "explorer-graph.png"))
    assert len(set(shot[200:])) > 50
    page.screenshot(path=str(artifacts / "explorer-index.png"), full_page=True)
    watched.assert_clean()


def test_a_click_on_a_node_opens_its_page(watched: Watched, site: Path, kb: KnowledgeBase) -> None:
    page = _open_graph(watched, site)
    target = kb.vulnerabilities[0]
    pos = page.evaluate(
        "(key) => window.mlstixGraph.getElementById(key).renderedPosition()", target.key
    )
    box = page.locator("#graph").bounding_box()
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    page.wait_for_url(f"**/objects/{target.key}.html")
    assert page.locator("h1").inner_text() == target.name
    watched.assert_clean()


def _word_only_in_description(kb: KnowledgeBase) -> tuple[str, str]:
    """A word of one object's description that no other object's text contains."""
    for obj in kb.objects:
        others: set[str] = set()
        for other in kb.objects:
            if other is not obj:
                text = f"{other.name} {other.summary} {other.description} {other.example}"
                others |= set(tokens(f"{text} {other.detection} {other.key}"))
                others |= set(tokens(str(other.model_dump())))
        for word in tokens(obj.description):
            if (
                len(word) >= 6
                and not word.isdigit()
                and not any(o.startswith(word) for o in others)
            ):
                return word, obj.key
    raise AssertionError("no description word unique to one object")


def test_search_finds_an_object_by_a_word_of_its_description(
    watched: Watched, site: Path, kb: KnowledgeBase
) -> None:
    word, key = _word_only_in_description(kb)
    page = watched.page
    page.goto((site / "objects" / f"{kb.objects[0].key}.html").as_uri())
    page.fill("#search-input", word.upper())
    results = page.locator("#search-results a")
    results.first.wait_for()
    assert results.count() == 1
    assert results.first.get_attribute("data-key") == key
    page.press("#search-input", "Enter")
    page.wait_for_url(f"**/objects/{key}.html")
    assert page.locator("h1").inner_text() == kb.get(key).name

    page.fill("#search-input", "zzzqqq nothing")
    assert "No object matches" in page.locator("#search-results").inner_text()
    watched.assert_clean()


def test_filters_hide_nodes_by_type_and_category(
    watched: Watched, site: Path, kb: KnowledgeBase
) -> None:
    page = _open_graph(watched, site)
    visible = "() => window.mlstixGraph.nodes(':visible').length"
    page.uncheck("#filter-kind-attack-pattern")
    assert page.evaluate(visible) == len(kb.objects) - len(kb.attack_patterns)
    vuln = kb.vulnerabilities[0]
    page.uncheck(f"#filter-cat-vulnerability-{vuln.category}")
    in_category = sum(1 for v in kb.vulnerabilities if v.category == vuln.category)
    expected = len(kb.objects) - len(kb.attack_patterns) - in_category
    assert page.evaluate(visible) == expected
    page.check("#filter-kind-attack-pattern")
    assert page.evaluate(visible) == expected + len(kb.attack_patterns)
    watched.assert_clean()


def test_course_of_action_tabs_switch_cloud(
    watched: Watched, site: Path, kb: KnowledgeBase, artifacts: Path
) -> None:
    coa = kb.courses_of_action[0]
    page = watched.page
    page.goto((site / "objects" / f"{coa.key}.html").as_uri())
    assert page.locator("#panel-aws").is_visible()
    assert not page.locator("#panel-azure").is_visible()
    page.click("#tab-azure")
    assert page.locator("#panel-azure").is_visible()
    assert not page.locator("#panel-aws").is_visible()
    step = coa.cloud[Cloud.AZURE].steps[0].split("`")[0].split("*")[0][:30].strip()
    assert step in page.locator("#panel-azure").inner_text()
    page.screenshot(path=str(artifacts / "explorer-course-of-action.png"))
    watched.assert_clean()


def test_html_report_is_offline_inert_and_prints(
    watched: Watched, kb: KnowledgeBase, tmp_path: Path, artifacts: Path
) -> None:
    hostile = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'
    finding = Finding(
        rule_id="models/pickle-dangerous-import",
        severity=Severity.CRITICAL,
        title=kb.vulnerability("insecure-model-serialization").name,
        message=f"imports {hostile}",
        location=Location("evil.pkl", member=hostile),
        vulnerability="insecure-model-serialization",
        courses_of_action=("implement-ml-model-verification-testing",),
        evidence={"global": hostile},
    )
    report = Report.build("models", [ScannedFile("evil.pkl", "pickle")], [finding])
    path = tmp_path / "report.html"
    path.write_text(str(render("html", report, kb)))
    page = watched.page
    page.goto(path.as_uri())
    assert page.evaluate("() => window.pwned") is None
    assert hostile in page.locator("#finding-1").inner_text()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    (artifacts / "report.pdf").write_bytes(pdf)
    watched.assert_clean()


def test_the_watcher_catches_console_errors_and_network(watched: Watched, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<img src="https://example.invalid/x.png"><script>console.error("boom");</script>'
    )
    watched.page.goto(page.as_uri())
    watched.page.wait_for_timeout(100)
    assert any("boom" in p for p in watched.problems)
    assert watched.network == ["https://example.invalid/x.png"]
    with pytest.raises(AssertionError):
        watched.assert_clean()


def test_the_graph_pans_and_zooms(watched: Watched, site: Path) -> None:
    page = _open_graph(watched, site)
    box = page.locator("#graph").bounding_box()
    zoom = page.evaluate("() => window.mlstixGraph.zoom()")
    pan = page.evaluate("() => window.mlstixGraph.pan()")
    page.mouse.move(box["x"] + 6, box["y"] + 6)  # the fitted view's padding: background
    page.mouse.down()
    page.mouse.move(box["x"] + 126, box["y"] + 86, steps=8)
    page.mouse.up()
    moved = page.evaluate("() => window.mlstixGraph.pan()")
    assert moved["x"] > pan["x"] + 50 and moved["y"] > pan["y"] + 30
    assert page.url.endswith("index.html")  # a drag is not a click on a node
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"() => window.mlstixGraph.zoom() > {zoom}")
    page.click("#graph-fit")
    assert page.evaluate("() => window.mlstixGraph.zoom()") <= zoom + 1e-6
    watched.assert_clean()
