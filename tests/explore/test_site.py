"""The static explorer site, without a browser: content, links, offline-ness, determinism."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlstix.cli.main import cli
from mlstix.kb.graph import KnowledgeBase
from mlstix.kb.model import Cloud, CourseOfAction
from mlstix.kb.render.site import MANIFEST, render_site, write_site
from mlstix.kb.render.site._data import tokens
from mlstix.kb.render.site.markup import esc, markdown

VENDOR = Path(__file__).resolve().parents[2] / "src/mlstix/kb/render/site/assets/vendor"


class _Refs(HTMLParser):
    """Every URL an HTML page refers to, by tag and attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))


def refs(html: str) -> list[tuple[str, str, str]]:
    parser = _Refs()
    parser.feed(html)
    return parser.refs


@pytest.fixture(scope="module")
def site(kb: KnowledgeBase) -> dict[str, bytes]:
    return render_site(kb)


def test_every_object_has_a_page_with_its_content(
    site: dict[str, bytes], kb: KnowledgeBase
) -> None:
    pages = sorted(p for p in site if p.startswith("objects/"))
    assert pages == sorted(f"objects/{o.key}.html" for o in kb.objects)
    assert len(pages) == 29
    for obj in kb.objects:
        html = site[f"objects/{obj.key}.html"].decode()
        assert f"<h1>{esc(obj.name)}</h1>" in html
        assert esc(obj.id) in html
        for rel in kb.edges_from(obj.key):
            if rel.type == "related-to":
                assert esc(kb.mitre_object(rel.target).url) in html, (obj.key, rel.target)
            else:
                assert f'href="{rel.target}.html"' in html, (obj.key, rel.target)
        for rel in kb.edges_to(obj.key):
            assert f'href="{rel.source}.html"' in html, (obj.key, rel.source)


def test_course_of_action_pages_have_a_tab_per_cloud_with_steps_and_example(
    site: dict[str, bytes], kb: KnowledgeBase
) -> None:
    for coa in kb.courses_of_action:
        html = site[f"objects/{coa.key}.html"].decode()
        assert html.count('role="tab"') == len(Cloud)
        for cloud in Cloud:
            guidance = coa.cloud[cloud]
            panel = html.split(f'id="panel-{cloud.value}"', 1)[1].split("</section>", 1)[0]
            assert panel.count("<li><p>") >= len(guidance.steps) >= 4
            assert esc(guidance.example.code.rstrip()) in panel
            assert esc(guidance.example.title) in panel


def test_pages_load_nothing_from_the_network_and_every_local_link_resolves(
    site: dict[str, bytes],
) -> None:
    for path, data in site.items():
        if not path.endswith(".html"):
            continue
        html = data.decode()
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
        assert csp is not None, path
        policy = csp.group(1).replace("&#x27;", "'")
        assert "default-src 'none'" in policy and "script-src 'self';" in policy, path
        assert "<script>" not in html, path  # no inline script: scripts are files
        for tag, _attr, url in refs(html):
            if tag == "a" and url.startswith("https://"):
                continue  # a link the reader may follow, not a load
            assert not re.match(r"^[a-z]+:", url), (path, tag, url)
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), url.split("#")[0]))
            assert target in site, (path, url)
    for name in ("assets/site.js", "assets/site.css"):
        text = site[name].decode()
        assert "http://" not in text and "https://" not in text, name
        assert not re.search(r"\bfetch\(|XMLHttpRequest|\bimport\(|url\(|@import", text), name


def test_search_data_is_a_script_with_every_object(
    site: dict[str, bytes], kb: KnowledgeBase
) -> None:
    text = site["assets/data.js"].decode()
    prefix = "window.MLSTIX_DATA = "
    body = text.split(prefix, 1)[1].rstrip().removesuffix(";")
    data = json.loads(body)
    assert [d["key"] for d in data["search"]["docs"]] == [o.key for o in kb.objects]
    assert len(data["graph"]["nodes"]) == 29
    expected_edges = {r.id for r in kb.relationships if r.type in ("targets", "mitigates")}
    assert {e["data"]["id"] for e in data["graph"]["edges"]} == expected_edges
    # every word of a name is findable
    for i, obj in enumerate(kb.objects):
        for word in tokens(obj.name):
            assert i in {doc for doc, _ in data["search"]["index"][word]}, (obj.key, word)


def test_output_is_deterministic(kb: KnowledgeBase, tmp_path: Path) -> None:
    write_site(kb, tmp_path / "a")
    write_site(kb, tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    assert files_a == files_b
    for rel in files_a:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_vendored_cytoscape_matches_its_recorded_sha256() -> None:
    readme = (VENDOR / "README.md").read_text()
    digest = hashlib.sha256((VENDOR / "cytoscape.min.js").read_bytes()).hexdigest()
    assert f"`{digest}`" in readme
    version = re.search(r"cytoscape\) \| ([\d.]+) \|", readme)
    assert version is not None
    assert f'version="{version.group(1)}"' in (VENDOR / "cytoscape.min.js").read_text()
    assert "Permission is hereby granted" in (VENDOR / "cytoscape.LICENSE").read_text()


def test_refuses_a_folder_it_did_not_write(kb: KnowledgeBase, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["kb", "site", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "not an mlstix site" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_rebuild_replaces_the_site_and_removes_stale_pages(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["kb", "site", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output
    manifest = json.loads((out / MANIFEST).read_text())
    stale = out / "objects" / "removed-object.html"
    stale.write_text("old")
    manifest["files"].append("objects/removed-object.html")
    manifest["files"].append("../outside.txt")  # a tampered manifest must not delete outside
    (tmp_path / "outside.txt").write_text("keep")
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "index.html").write_text("edited")
    write_site(kb, out)
    assert not stale.exists()
    assert (tmp_path / "outside.txt").read_text() == "keep"
    assert (out / "index.html").read_text().startswith("<!DOCTYPE html>")


def test_markdown_prose_cannot_inject_html() -> None:
    html = markdown("ok <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=y>")
    assert "<script" not in html and "<img" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;" in html


def test_object_prose_is_rendered_as_markdown(site: dict[str, bytes], kb: KnowledgeBase) -> None:
    coa = next(o for o in kb.objects if isinstance(o, CourseOfAction))
    html = site[f"objects/{coa.key}.html"].decode()
    assert "**" not in html.split("<h2>Description</h2>", 1)[1].split("</section>", 1)[0]
