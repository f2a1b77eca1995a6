"""The wiki service: list, read, write, remove and tag pages; every change is one git commit.

Pages live at `wiki/global/<key>.md` and `wiki/user/<user>/<key>.md`; a user's page shadows the
global page with the same key. Writes validate links before touching anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ktx.project.project import Project
from ktx.wiki.page import (
    REF_PATTERN,
    USAGE_MODES,
    WikiError,
    WikiPage,
    frontmatter_warnings,
    parse_page_text,
    render_page,
    validate_key,
    validate_user_id,
)

LOCAL_USER = "local"
MAX_USER_PAGES = 100


class WikiStore:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = project.root
        self.skipped: list[str] = []  # pages the last list() could not read, each naming its file

    # --- locations -----------------------------------------------------------------------

    def _dir(self, scope: str, user_id: str | None) -> Path:
        if scope == "global":
            return self.root / "wiki" / "global"
        return self.root / "wiki" / "user" / validate_user_id(user_id or LOCAL_USER)

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def scope_files(self, scope: str, user_id: str | None = None) -> list[os.DirEntry[str]]:
        """Markdown files with flat keys in one scope (nested legacy paths are ignored)."""
        folder = self._dir(scope, user_id)
        if not folder.is_dir():
            return []
        with os.scandir(folder) as entries:
            return sorted(
                (e for e in entries if e.name.endswith(".md") and e.is_file() and _is_flat(e.name[:-3])),
                key=lambda e: e.name,
            )

    def user_ids(self) -> list[str]:
        folder = self.root / "wiki" / "user"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    # --- reading -------------------------------------------------------------------------

    def load(self, path: Path, scope: str, user_id: str | None) -> WikiPage:
        """One page; an unreadable file is a WikiError naming it, odd frontmatter becomes `warnings`."""
        rel = self._rel(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise WikiError(f"{rel}: cannot be read ({exc.strerror or exc})") from None
        if b"\x00" in raw[:8192]:
            raise WikiError(f"{rel}: a binary file, not a Markdown page")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WikiError(f"{rel}: not UTF-8 text (byte {exc.start})") from None
        try:
            frontmatter, body = parse_page_text(text)
        except WikiError as exc:
            raise WikiError(f"{rel}: {exc.message}") from None
        owner = user_id if scope == "user" else None
        page = WikiPage(path.stem, scope, rel, frontmatter, body, owner)  # type: ignore[arg-type]
        page.warnings = [f"{rel}: {w}" for w in frontmatter_warnings(text.replace("\r\n", "\n"), frontmatter)]
        return page

    def list(self, user_id: str | None = LOCAL_USER) -> list[WikiPage]:
        """Global pages plus the user's pages, sorted by path (a key may appear in both scopes)."""
        pages = []
        self.skipped = []
        for scope, uid in (("global", None), ("user", user_id)):
            if scope == "user" and not uid:
                continue
            for entry in self.scope_files(scope, uid):
                try:
                    pages.append(self.load(Path(entry.path), scope, uid))
                except WikiError as exc:
                    self.skipped.append(f"skipped {exc.message}")  # one bad page must not hide the others
        top = self._dir("global", None).parent
        if top.is_dir():
            for stray in sorted(top.glob("*.md")):
                self.skipped.append(
                    f"skipped wiki/{stray.name}: pages directly under wiki/ are not read; "
                    f"move it to wiki/global/{stray.name} (shared) or wiki/user/<user>/ (yours)"
                )
        return sorted(pages, key=lambda p: p.path)

    def read(self, key: str, user_id: str | None = LOCAL_USER) -> WikiPage | None:
        validate_key(key)
        if user_id:
            path = self._dir("user", user_id) / f"{key}.md"
            if path.is_file():
                return self.load(path, "user", user_id)
        path = self._dir("global", None) / f"{key}.md"
        return self.load(path, "global", None) if path.is_file() else None

    def list_tags(self, user_id: str | None = LOCAL_USER) -> list[str]:
        return sorted({tag for page in self.list(user_id) for tag in page.tags})

    def keys(self, user_id: str | None = None) -> set[str]:
        keys = {e.name[:-3] for e in self.scope_files("global")}
        if user_id:
            keys |= {e.name[:-3] for e in self.scope_files("user", user_id)}
        return keys

    # --- writing -------------------------------------------------------------------------

    def write(
        self,
        key: str,
        *,
        content: str | None = None,
        summary: str | None = None,
        tags: list[str] | None = None,
        refs: list[str] | None = None,
        sl_refs: list[str] | None = None,
        usage_mode: str | None = None,
        extra: dict[str, Any] | None = None,
        scope: str = "global",
        user_id: str | None = None,
        message: str | None = None,
    ) -> WikiPage:
        """Create or update a page. Omitted fields keep their old values; `[]` clears a list.

        Links (`refs` and `[[wikilinks]]`) must point at existing pages and `sl_refs` at existing
        semantic-layer sources; otherwise nothing is written.
        """
        validate_key(key)
        folder = self._dir(scope, user_id)
        path = folder / f"{key}.md"
        existing = self.load(path, scope, user_id) if path.is_file() else None  # type: ignore[arg-type]
        if existing is None and not (content or "").strip():
            raise WikiError(f"Creating wiki page '{key}' needs content.")
        if existing is None and scope == "user" and len(self.scope_files("user", user_id)) >= MAX_USER_PAGES:
            raise WikiError(f"User {user_id!r} already has {MAX_USER_PAGES} pages; remove one first.")
        frontmatter: dict[str, Any] = dict(existing.frontmatter) if existing else {}
        updates: dict[str, Any] = {"summary": summary, "tags": tags, "refs": refs, "sl_refs": sl_refs}
        for name, value in updates.items():
            if value is not None:
                frontmatter[name] = list(value) if isinstance(value, list) else value
        frontmatter.setdefault("summary", "")
        if usage_mode is not None:
            if usage_mode not in USAGE_MODES:
                raise WikiError(f"usage_mode must be one of {', '.join(USAGE_MODES)}")
            frontmatter["usage_mode"] = usage_mode
        frontmatter.setdefault("usage_mode", "auto")
        for name, value in (extra or {}).items():
            frontmatter[name] = value
        body = _unescape(content) if content is not None else (existing.body if existing else "")
        owner = user_id if scope == "user" else None
        page = WikiPage(key, scope, self._rel(path), frontmatter, body, owner)  # type: ignore[arg-type]
        self._check_links(page)
        self.project.files.write(self._rel(path), render_page(frontmatter, body), message or f"Write wiki page: {key}")
        return page

    def remove(self, key: str, *, scope: str = "global", user_id: str | None = None) -> None:
        validate_key(key)
        path = self._dir(scope, user_id) / f"{key}.md"
        if not path.is_file():
            raise WikiError(f'Page "{key}" not found.')
        self.project.files.remove(self._rel(path), f"Remove wiki page: {key}")

    def _check_links(self, page: WikiPage) -> None:
        known = self.keys(page.user_id) | {page.key}
        bad_format = [t for t in page.links() if not REF_PATTERN.match(t)]
        missing = [t for t in page.links() if REF_PATTERN.match(t) and t not in known]
        if bad_format:
            raise WikiError(f"wiki references are not valid page keys: {', '.join(bad_format)}")
        if missing:
            raise WikiError(f"wiki references target missing page(s): {', '.join(missing)}")
        if page.sl_refs:
            from ktx.semantic.summaries import all_sources

            sources = all_sources(self.root)
            names = {s.name for s in sources} | {s.doc_id for s in sources}
            unknown = [r for r in page.sl_refs if r not in names and r.split(".")[0] not in names]
            if unknown:
                raise WikiError(f"sl_refs name unknown semantic-layer source(s): {', '.join(unknown)}")


def _is_flat(key: str) -> bool:
    from ktx.wiki.page import KEY_PATTERN

    return bool(KEY_PATTERN.match(key))


def _unescape(text: str) -> str:
    """Markdown that arrived with its newlines escaped (`\\n` with no real newline) is restored."""
    if "\n" not in text and "\\n" in text:
        return text.replace("\\n", "\n")
    return text
