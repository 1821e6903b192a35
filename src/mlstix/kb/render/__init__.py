"""Human-readable renderings of the knowledge base: Mermaid/DOT diagrams and Markdown pages."""
