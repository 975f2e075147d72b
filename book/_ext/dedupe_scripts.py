"""Drop repeated <script> entries from each page.

sphinx-thebe 0.3.1 registers its inline configuration on every ``env-before-read-docs``
event, which Sphinx 7.4 emits more than once per build; the page then declares
``const THEBE_JS_URL`` twice and the browser reports a SyntaxError. This keeps the first of
identical entries.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # an inline script's filename is None when registered and '' once read back from
        # the pickled environment: both mean "no file"
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
