"""Sphinx extension ``launch_when_published``: launch buttons only for a published book, notebook downloads always.

* The Binder and Colab launch buttons of ``_config.yml`` (``launch_buttons``) link to the book's repository,
  which only the publishing workflow knows (``.github/workflows/book.yml`` fills ``repository.url``). With
  ``repository.url`` empty (a local build) the launch URLs are blanked when the configuration is read, so
  sphinx-book-theme shows no launch button (and does not fail on the missing repository).
* Launch buttons stay only on the pages whose chapter is committed as a notebook beside its source
  (``book/tutorial.ipynb`` next to ``book/tutorial.md``, written by ``book/make_static.py``): the theme
  then links that ``.ipynb`` (Colab opens no MyST Markdown), and the chapter's relative paths hold.
* sphinx-book-theme offers a page's executed notebook (``.ipynb``) in its download menu only when a launch
  button is configured. This extension copies the executed notebook of every MyST Markdown notebook (a
  chapter with code) to ``_sources/`` and names it, so the download is there in every build.
"""

from __future__ import annotations

from pathlib import Path
from shutil import copy2

#: launch_buttons keys that name a service the browser would be sent to
LAUNCH_URL_KEYS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url")


def _blank_launch_buttons_without_repository(app, config) -> None:
    opts = config.html_theme_options
    if (opts.get("repository_url") or "").strip():
        return
    launch = dict(opts.get("launch_buttons") or {})
    for key in LAUNCH_URL_KEYS:
        if key in launch:
            launch[key] = ""
    launch["thebe"] = False
    opts["launch_buttons"] = launch


def _offer_executed_notebook(app, pagename, templatename, context, doctree) -> None:
    if context.get("ipynb_source") or "kernelspec" not in app.env.metadata.get(pagename, {}):
        return
    if not str(context.get("sourcename", "")).endswith((".md", ".md.txt")):
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _launch_only_beside_a_committed_notebook(app, pagename, templatename, context, doctree) -> None:
    if Path(app.srcdir, f"{pagename}.ipynb").is_file():
        return
    buttons = context.get("header_buttons") or []
    buttons[:] = [b for b in buttons if b.get("label") != "launch-buttons"]


def setup(app):
    app.connect("config-inited", _blank_launch_buttons_without_repository)
    # before sphinx-book-theme's header buttons (priority 501), which read ipynb_source
    app.connect("html-page-context", _offer_executed_notebook, priority=500)
    # after sphinx-book-theme's launch buttons (priority 501)
    app.connect("html-page-context", _launch_only_beside_a_committed_notebook, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
