"""The HTML a person sees when a sign-in does not go through: what happened, what to do, a reference.

Plain, self-contained pages (no script, no external resource): they render in any browser and under
the strict Content-Security-Policy the service sends. Every value is escaped.
"""

from __future__ import annotations

from html import escape

from signin.refusals import RefusalPage

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;
background:#f4f5f7;color:#1d2530}
main{max-width:34rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin:0 0 .75rem}
p{margin:0 0 1rem}
.reference{color:#5b6573;font-size:.85rem;margin:1.5rem 0 0}
"""


def refusal_page(page: RefusalPage, reference: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(page.title)}</title><style>{_STYLE}</style></head>"
        f'<body><main role="alert"><h1>{escape(page.title)}</h1><p>{escape(page.message)}</p>'
        f'<p class="reference">Reference: <code>{escape(reference)}</code> (give it to support if you ask '
        "for help)</p></main></body></html>"
    )
