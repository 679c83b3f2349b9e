"""The skills taxonomy: canonical skill ids, names, aliases, categories and
related skills.

Every skill id that crosses a service boundary is a canonical id from here
(lowercase kebab case: ``python``, ``data-analysis``,
``stakeholder-management``). Free text typed by people ("Py", "Postgres",
"ML", "C++") is turned into an id with :meth:`Taxonomy.normalise`, which
matches ids, display names and aliases case-, whitespace- and
punctuation-insensitively (``+`` and ``#`` are kept as "plus"/"sharp", so
"C", "C++" and "C#" stay three different skills). Unknown text raises
:class:`UnknownSkill` with up to three suggestions.

Related skills carry a strength in (0, 1] and are symmetric: if python is
related to r with 0.5, r is related to python with 0.5. The matcher gives
capped partial credit through them (see ``services/matcher/scoring.py``).

The curated default taxonomy ships as ``itm/data/skills.json``; records have
the shape::

    {"id": "postgresql", "name": "PostgreSQL", "category": "databases",
     "aliases": ["postgres", "psql"], "related": {"sql": 0.8},
     "description": "", "uri": ""}

(``related`` may list a pair in one direction only; loading symmetrises it.)
:func:`import_esco_csv` turns ESCO's ``skills_en.csv`` into the same shape and
:meth:`Taxonomy.merge` folds such records into a taxonomy.
"""

from __future__ import annotations

import csv
import difflib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

__all__ = [
    "Skill",
    "SkillRecord",
    "Taxonomy",
    "UnknownSkill",
    "import_esco_csv",
    "match_key",
    "slugify",
]

#: One skill as plain data (JSON-compatible): see the module docstring.
SkillRecord = dict[str, Any]

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NON_WORD = re.compile(r"[\W_]+")
_NON_SLUG = re.compile(r"[^a-z0-9]+")
_DEFAULT_CATEGORY = "uncategorised"
_MAX_SUGGESTIONS = 3
_EMPTY: Mapping[str, float] = MappingProxyType({})


def match_key(text: str) -> str:
    """The lookup key of ``text``: case-folded, with ``+``/``#`` spelled out
    and everything but letters and digits removed ("Node.js" and "node js"
    both give ``nodejs``; "C++" gives ``cplusplus``)."""
    t = unicodedata.normalize("NFKC", text).casefold()
    t = t.replace("+", "plus").replace("#", "sharp")
    return _NON_WORD.sub("", t)


def slugify(text: str) -> str:
    """A kebab-case ASCII id for ``text`` ("Python (computer programming)" ->
    ``python-computer-programming``, "C++" -> ``c-plus-plus``); may be empty
    for text without any Latin letters or digits."""
    t = text.replace("+", " plus ").replace("#", " sharp ")
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", t.lower()).strip("-")


class UnknownSkill(ValueError):
    """Raised for text that matches no skill id, name or alias."""

    def __init__(self, text: str, suggestions: Iterable[str] = ()) -> None:
        self.text = text
        self.suggestions: list[str] = list(suggestions)
        message = f"unknown skill {text!r}"
        if self.suggestions:
            message += "; did you mean: " + ", ".join(self.suggestions) + "?"
        super().__init__(message)

    def __reduce__(self):  # keep text and suggestions across pickling
        return (type(self), (self.text, self.suggestions))


@dataclass(frozen=True, slots=True)
class Skill:
    """One canonical skill. ``related`` is read-only and already symmetric."""

    id: str
    name: str
    category: str
    aliases: tuple[str, ...] = ()
    related: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    uri: str = ""

    def to_record(self) -> SkillRecord:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "aliases": list(self.aliases),
            "related": dict(self.related),
            "description": self.description,
            "uri": self.uri,
        }


def _as_related(value: Any, owner: str) -> dict[str, float]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        items = value.items()
    else:  # a list of [id, strength] pairs
        items = [tuple(pair) for pair in value]
    out: dict[str, float] = {}
    for other, strength in items:
        if isinstance(strength, bool) or not isinstance(strength, (int, float)):
            raise ValueError(f"skill {owner!r}: strength for {other!r} is not a number")
        out[str(other)] = float(strength)
    return out


def _as_aliases(value: Any, owner: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raise ValueError(f"skill {owner!r}: aliases must be a list, not a string")
    return [str(a).strip() for a in value if str(a).strip()]


class Taxonomy:
    """An immutable set of skills with alias lookup and symmetric relations.

    Build one with :meth:`from_records` or :meth:`load_default` (cached);
    :meth:`merge` returns a new taxonomy and never changes this one.
    """

    __slots__ = ("_skills", "_by_key", "_related", "_suggest_keys", "_search", "_version", "_redirects", "_changes")

    def __init__(self, skills: Iterable[Skill], redirects: Mapping[str, str] | None = None) -> None:
        # Internal: use from_records(), which validates. Skills here must be
        # consistent (unique ids and keys, symmetric relations, redirects to known ids).
        self._skills: dict[str, Skill] = {s.id: s for s in sorted(skills, key=lambda s: s.id)}
        self._redirects: dict[str, str] = dict(sorted((redirects or {}).items()))
        self._changes: list[dict[str, Any]] = []  # the edits that led here (see changed_since)
        self._by_key: dict[str, str] = {}
        for s in self._skills.values():
            for text in (s.id, s.name, *s.aliases):
                self._by_key.setdefault(match_key(text), s.id)
        for old, new in self._redirects.items():  # an old id still names the skill it became
            self._by_key.setdefault(match_key(old), new)
        self._related: dict[str, Mapping[str, float]] = {
            s.id: s.related for s in self._skills.values() if s.related
        }
        self._suggest_keys: list[str] = list(self._by_key)
        self._search = None
        self._version: str | None = None

    # ----------------------------------------------------------- building
    @classmethod
    def load_default(cls) -> "Taxonomy":
        """The curated taxonomy shipped in ``itm/data/skills.json`` (loaded
        once per process and shared; taxonomies are immutable)."""
        return _load_default()

    @classmethod
    def configured(cls) -> "Taxonomy":
        """The taxonomy this deployment runs on: the file ``ITM_TAXONOMY_PATH`` names
        (see :meth:`load_path`), else the shipped default. Loaded once per process."""
        return _load_path(os.environ.get("ITM_TAXONOMY_PATH", "").strip())

    @classmethod
    def load_path(cls, path: str | os.PathLike[str]) -> "Taxonomy":
        """A taxonomy file: JSON, a list of records or ``{"skills": [...], "redirects": {old id: id}}``
        (what :meth:`to_file` writes)."""
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if isinstance(data, Mapping):
            taxonomy = cls.from_records(data["skills"], data.get("redirects") or {})
            taxonomy._changes = [dict(c) for c in data.get("changes") or []]
            return taxonomy
        return cls.from_records(data)

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write this taxonomy as a file :meth:`load_path` reads (ITM_TAXONOMY_PATH)."""
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"format": "itm-taxonomy", "version": self.version, "skills": self.to_records(),
                       "redirects": self._redirects, "changes": self._changes}, fh, ensure_ascii=False, indent=1,
                      sort_keys=True)
        os.replace(tmp, path)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]],
                     redirects: Mapping[str, str] | None = None) -> "Taxonomy":
        """Build and validate a taxonomy from records.

        Raises ValueError for: an id that is not lowercase kebab case, a
        duplicate id, an id/name/alias whose lookup key belongs to another
        skill, a relation to an unknown skill or to itself, or a strength
        outside (0, 1]. A pair listed in both directions keeps the larger
        strength.
        """
        parsed: list[dict[str, Any]] = []
        ids: set[str] = set()
        for rec in records:
            sid = rec.get("id")
            if not isinstance(sid, str) or not _ID_RE.match(sid):
                raise ValueError(f"invalid skill id {sid!r}: expected lowercase kebab case")
            if sid in ids:
                raise ValueError(f"duplicate skill id {sid!r}")
            ids.add(sid)
            name = str(rec.get("name") or sid).strip()
            parsed.append(
                {
                    "id": sid,
                    "name": name,
                    "category": str(rec.get("category") or _DEFAULT_CATEGORY).strip(),
                    "aliases": _as_aliases(rec.get("aliases"), sid),
                    "related": _as_related(rec.get("related"), sid),
                    "description": str(rec.get("description") or "").strip(),
                    "uri": str(rec.get("uri") or "").strip(),
                }
            )

        owner: dict[str, str] = {}
        for p in parsed:
            for text in (p["id"], p["name"], *p["aliases"]):
                key = match_key(text)
                if not key:
                    raise ValueError(f"skill {p['id']!r}: {text!r} has no letters or digits")
                other = owner.setdefault(key, p["id"])
                if other != p["id"]:
                    raise ValueError(
                        f"{text!r} of skill {p['id']!r} is ambiguous: it also names {other!r}"
                    )

        sym: dict[str, dict[str, float]] = {p["id"]: {} for p in parsed}
        for p in parsed:
            sid = p["id"]
            for other, strength in p["related"].items():
                if other == sid:
                    raise ValueError(f"skill {sid!r} is related to itself")
                if other not in ids:
                    raise ValueError(f"skill {sid!r} is related to unknown skill {other!r}")
                if not 0.0 < strength <= 1.0:
                    raise ValueError(
                        f"strength {strength} of {sid!r}<->{other!r} is outside (0, 1]"
                    )
                best = max(strength, sym[sid].get(other, 0.0))
                sym[sid][other] = best
                sym[other][sid] = best

        skills = []
        for p in parsed:
            seen = {match_key(p["id"]), match_key(p["name"])}
            aliases = []
            for a in p["aliases"]:
                k = match_key(a)
                if k not in seen:
                    seen.add(k)
                    aliases.append(a)
            rel = dict(sorted(sym[p["id"]].items(), key=lambda kv: (-kv[1], kv[0])))
            skills.append(
                Skill(
                    id=p["id"],
                    name=p["name"],
                    category=p["category"],
                    aliases=tuple(aliases),
                    related=MappingProxyType(rel),
                    description=p["description"],
                    uri=p["uri"],
                )
            )
        return cls(skills, _checked_redirects(redirects or {}, ids))

    def merge(self, records: Iterable[Mapping[str, Any]]) -> "Taxonomy":
        """A new taxonomy with ``records`` folded in (e.g. from
        :func:`import_esco_csv`); this one is unchanged.

        A record whose id is already known, or whose id or name normalises to
        an existing skill (its id, name or an alias), is merged into that
        skill: its name and aliases become aliases, relations are added
        (larger strength wins), and an empty description/uri is filled. Other
        records become new skills. Ids that are not kebab case are slugified.
        Merging is lenient where curated loading is strict: an alias that
        already names a different skill, a relation to an unknown skill or an
        out-of-range strength is dropped, never an error.
        """
        table: dict[str, dict[str, Any]] = {sid: s.to_record() for sid, s in self._skills.items()}
        owner: dict[str, str] = dict(self._by_key)

        def claim(sid: str, text: str) -> bool:
            key = match_key(text)
            if not key:
                return False
            return owner.setdefault(key, sid) == sid

        pending_related: list[tuple[str, dict[str, float]]] = []
        for rec in records:
            raw_id = str(rec.get("id") or "")
            sid = raw_id if _ID_RE.match(raw_id) else slugify(raw_id or str(rec.get("name") or ""))
            if not sid:
                continue
            name = str(rec.get("name") or sid).strip()
            target = sid if sid in table else owner.get(match_key(sid)) or owner.get(match_key(name))
            try:
                aliases = _as_aliases(rec.get("aliases"), sid)
                related = _as_related(rec.get("related"), sid)
            except (TypeError, ValueError):
                aliases, related = [], {}
            if target is not None:
                entry = table[target]
                for text in (name, *aliases):
                    if claim(target, text) and match_key(text) not in {
                        match_key(t) for t in (entry["id"], entry["name"], *entry["aliases"])
                    }:
                        entry["aliases"].append(text)
                for k in ("description", "uri"):
                    if not entry.get(k) and rec.get(k):
                        entry[k] = str(rec[k]).strip()
                pending_related.append((target, related))
            else:
                claim(sid, sid)
                if not claim(sid, name):
                    name = sid
                entry = {
                    "id": sid,
                    "name": name,
                    "category": str(rec.get("category") or _DEFAULT_CATEGORY).strip(),
                    "aliases": [a for a in aliases if claim(sid, a)],
                    "related": {},
                    "description": str(rec.get("description") or "").strip(),
                    "uri": str(rec.get("uri") or "").strip(),
                }
                table[sid] = entry
                pending_related.append((sid, related))

        for sid, related in pending_related:
            for other, strength in related.items():
                if other != sid and other in table and 0.0 < strength <= 1.0:
                    current = table[sid]["related"].get(other, 0.0)
                    table[sid]["related"][other] = max(current, strength)
        return type(self).from_records(table.values(), self._redirects)

    def to_records(self) -> list[SkillRecord]:
        """All skills as records (relations listed in both directions)."""
        return [s.to_record() for s in self._skills.values()]

    # ------------------------------------------------------------- lookup
    def normalise(self, text: str) -> str:
        """The canonical id for a skill id, display name or alias.

        Matching ignores case, whitespace and punctuation ("Python 3",
        "python3" and "PY" all give ``python``). Raises :class:`UnknownSkill`
        (a ValueError) with up to three suggestions otherwise.
        """
        if not isinstance(text, str):
            raise TypeError(f"skill text must be a str, not {type(text).__name__}")
        sid = self._by_key.get(match_key(text))
        if sid is None:
            raise UnknownSkill(text, self.suggest(text))
        return sid

    def try_normalise(self, text: str) -> str | None:
        """Like :meth:`normalise` but returns None for unknown text."""
        return self._by_key.get(match_key(text)) if isinstance(text, str) else None

    def suggest(self, text: str, n: int = _MAX_SUGGESTIONS) -> list[str]:
        """Up to ``n`` skill ids whose id, name or alias is close to ``text``
        (difflib similarity on lookup keys), best first."""
        key = match_key(text)
        if not key or n <= 0:
            return []
        out: list[str] = []
        for k in difflib.get_close_matches(key, self._suggest_keys, n=n * 8, cutoff=0.6):
            sid = self._by_key[k]
            if sid not in out:
                out.append(sid)
                if len(out) == n:
                    break
        return out

    def resolve(self, skill_id: str) -> str:
        """The current id of a skill id, following renames and merges (``excel`` ->
        ``microsoft-excel``); unknown ids are returned as they are."""
        return self._redirects.get(skill_id, skill_id)

    @property
    def redirects(self) -> Mapping[str, str]:
        """Old id -> the id it became (renamed or merged), read-only."""
        return MappingProxyType(self._redirects)

    # -------------------------------------------------- living taxonomy
    def changed_since(self, version: str) -> set[str] | None:
        """The skill ids whose scoring may differ between taxonomy ``version`` and this
        one (added, renamed, merged, their relations), from the edits recorded in the
        file; None when ``version`` is not an ancestor this file knows (e.g. a new ESCO
        import): then anything may have changed."""
        if version == self.version:
            return set()
        for i, change in enumerate(self._changes):
            if change["from"] == version:
                return set().union(*(set(c["skills"]) for c in self._changes[i:]))
        return None

    def _edited(self, new: "Taxonomy", skills: Iterable[str]) -> "Taxonomy":
        if new.version != self.version:
            new._changes = [*self._changes, {"from": self.version, "to": new.version, "skills": sorted(set(skills))}]
        else:
            new._changes = list(self._changes)
        return new

    def with_skill(self, record: Mapping[str, Any]) -> "Taxonomy":
        """A new taxonomy with one more skill (a record as in the module docstring)."""
        if record.get("id") in self._skills or record.get("id") in self._redirects:
            raise ValueError(f"skill id {record.get('id')!r} is taken")
        new = type(self).from_records([*self.to_records(), dict(record)], self._redirects)
        return self._edited(new, [str(record["id"]), *new.related(str(record["id"]))])

    def renamed(self, skill_id: str, name: str | None = None, new_id: str | None = None) -> "Taxonomy":
        """A new taxonomy where ``skill_id`` has a new display name and/or id; the old
        name becomes an alias and the old id keeps resolving (a redirect)."""
        skill = self.get(skill_id)
        target = new_id or skill_id
        if target != skill_id and (target in self._skills or target in self._redirects):
            raise ValueError(f"skill id {target!r} is taken")
        records = []
        for rec in self.to_records():
            rec["related"] = {(target if k == skill_id else k): v for k, v in rec["related"].items()}
            if rec["id"] == skill_id:
                rec["id"] = target
                if name and name != skill.name:
                    rec["aliases"] = [skill.name, *rec["aliases"]]
                    rec["name"] = name
            records.append(rec)
        redirects = {old: (target if new == skill_id else new) for old, new in self._redirects.items()}
        if target != skill_id:
            redirects[skill_id] = target
        return self._edited(type(self).from_records(records, redirects), [skill_id, target, *skill.related])

    def merged(self, old_id: str, into_id: str) -> "Taxonomy":
        """A new taxonomy where ``old_id`` is folded into ``into_id``: its name and aliases
        become aliases of ``into_id``, relations are combined (the larger strength), and
        ``old_id`` (and whatever redirected to it) resolves to ``into_id``."""
        old, into = self.get(old_id), self.get(into_id)
        if old_id == into_id:
            raise ValueError("a skill cannot be merged into itself")
        records = []
        for rec in self.to_records():
            if rec["id"] == old_id:
                continue
            related = {}
            for k, v in rec["related"].items():
                k = into_id if k == old_id else k
                if k != rec["id"]:
                    related[k] = max(v, related.get(k, 0.0))
            rec["related"] = related
            if rec["id"] == into_id:
                rec["aliases"] = [*rec["aliases"], old.name, *old.aliases]
                for k, v in old.related.items():
                    if k not in (into_id, old_id):
                        rec["related"][k] = max(v, rec["related"].get(k, 0.0))
                if not rec["description"]:
                    rec["description"] = old.description
            records.append(rec)
        redirects = {o: (into_id if n == old_id else n) for o, n in self._redirects.items()}
        redirects[old_id] = into_id
        return self._edited(type(self).from_records(records, redirects),
                            [old_id, into_id, *old.related, *into.related])

    def get(self, skill_id: str) -> Skill:
        """The skill with canonical id ``skill_id``; UnknownSkill otherwise."""
        try:
            return self._skills[skill_id]
        except (KeyError, TypeError):
            raise UnknownSkill(str(skill_id), self.suggest(str(skill_id))) from None

    def name(self, skill_id: str) -> str:
        """Display name of a canonical id; UnknownSkill otherwise."""
        return self.get(skill_id).name

    def related(self, skill_id: str) -> dict[str, float]:
        """Related skills of ``skill_id`` with their strengths in (0, 1],
        strongest first. Symmetric. Empty for unknown ids, so this method (or
        the non-copying :meth:`related_view`) can be passed as the matcher's
        ``related`` callable directly."""
        rel = self._related.get(skill_id)
        return dict(rel) if rel else {}

    def related_view(self, skill_id: str) -> Mapping[str, float]:
        """Like :meth:`related` but a read-only view, without copying: the
        cheaper choice for the matcher's hot path."""
        return self._related.get(skill_id, _EMPTY)

    def category(self, skill_id: str) -> str:
        return self.get(skill_id).category

    def categories(self) -> list[str]:
        return sorted({s.category for s in self._skills.values()})

    @property
    def version(self) -> str:
        """A fingerprint of the content (16 hex digits): equal taxonomies have equal
        versions, and any added, renamed, merged or re-related skill changes it."""
        if self._version is None:
            import hashlib

            content: Any = self.to_records()
            if self._redirects:
                content = {"skills": content, "redirects": self._redirects}
            text = json.dumps(content, sort_keys=True, separators=(",", ":"))
            self._version = hashlib.sha1(text.encode()).hexdigest()[:16]
        return self._version

    def search_index(self):
        """The autocomplete index of this taxonomy (:class:`itm.taxonomy_search.SkillSearch`),
        built on first use and shared (taxonomies are immutable). Call it at start-up to
        pay the build there rather than on the first search."""
        if self._search is None:
            from itm.taxonomy_search import SkillSearch

            self._search = SkillSearch(self)
        return self._search

    def search(self, text: str, limit: int = 10, category: str = ""):
        """Skills for what a person typed, best first: prefix, alias and typo-tolerant
        (see :mod:`itm.taxonomy_search`)."""
        return self.search_index().search(text, limit, category)

    def skills(self) -> list[Skill]:
        """All skills, sorted by id."""
        return list(self._skills.values())

    def ids(self) -> list[str]:
        return list(self._skills)

    def __contains__(self, skill_id: object) -> bool:
        """True for canonical ids only (use :meth:`try_normalise` for text)."""
        return isinstance(skill_id, str) and skill_id in self._skills

    def __iter__(self) -> Iterator[str]:
        return iter(self._skills)

    def __len__(self) -> int:
        return len(self._skills)

    def __repr__(self) -> str:
        return f"<Taxonomy {len(self)} skills>"


def _checked_redirects(redirects: Mapping[str, str], ids: set[str]) -> dict[str, str]:
    """Redirects with chains followed to a current id; an old id that is a current one,
    or a redirect to nothing, is an error."""
    out: dict[str, str] = {}
    for old in redirects:
        if old in ids:
            raise ValueError(f"redirect from {old!r}: it is a current skill id")
        seen, target = {old}, redirects[old]
        while target in redirects and target not in seen:
            seen.add(target)
            target = redirects[target]
        if target not in ids:
            raise ValueError(f"redirect {old!r} -> {redirects[old]!r} leads to no skill")
        out[str(old)] = target
    return out


@lru_cache(maxsize=4)
def _load_path(path: str) -> Taxonomy:
    return Taxonomy.load_path(path) if path else _load_default()


@lru_cache(maxsize=1)
def _load_default() -> Taxonomy:
    text = resources.files("itm.data").joinpath("skills.json").read_text(encoding="utf-8")
    data = json.loads(text)
    records = data["skills"] if isinstance(data, Mapping) else data
    return Taxonomy.from_records(records)


# ------------------------------------------------------------------ ESCO
_ESCO_REQUIRED = ("conceptUri", "preferredLabel")


def import_esco_csv(
    path: str | os.PathLike[str],
    *,
    released_only: bool = True,
    include_hidden_labels: bool = False,
    on_bytes=None,
) -> list[SkillRecord]:
    """Read ESCO's ``skills_en.csv`` (columns conceptType, conceptUri,
    skillType, reuseLevel, preferredLabel, altLabels, hiddenLabels, status,
    modifiedDate, scopeNote, definition, inScheme, description) into records.

    - id: ``slugify(preferredLabel)``; if two concepts slugify alike, the
      later one gets the first 8 characters of its URI's last segment
      appended; a label without Latin letters falls back to ``esco-<that>``.
    - name: preferredLabel; aliases: altLabels (one per line), plus
      hiddenLabels when ``include_hidden_labels``.
    - category: ``esco-<skillType>`` (``esco-knowledge``,
      ``esco-skill-competence``), or ``esco`` if blank.
    - description, uri (the conceptUri); no relations.

    Rows whose ``status`` column is present and not ``released`` are skipped
    when ``released_only``. Only conceptUri and preferredLabel are required.
    ``on_bytes(n)`` is called with the size of every line read (progress).
    Relations come from another file: :func:`itm.esco.import_esco`.
    """
    records: list[SkillRecord] = []
    used: set[str] = set()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(_counted(fh, on_bytes) if on_bytes else fh)
        missing = [c for c in _ESCO_REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{os.fspath(path)}: not an ESCO skills CSV (missing {missing})")
        for row in reader:
            label = (row.get("preferredLabel") or "").strip()
            uri = (row.get("conceptUri") or "").strip()
            if not label:
                continue
            status = (row.get("status") or "").strip().lower()
            if released_only and status and status != "released":
                continue
            tail = slugify(uri.rstrip("/").rsplit("/", 1)[-1])[:8].strip("-")
            sid = slugify(label)
            if not sid:
                sid = f"esco-{tail}" if tail else ""
            if not sid:
                continue
            if sid in used and tail:
                sid = f"{sid}-{tail}"
            if sid in used:
                continue
            used.add(sid)
            labels = (row.get("altLabels") or "").splitlines()
            if include_hidden_labels:
                labels += (row.get("hiddenLabels") or "").splitlines()
            aliases: list[str] = []
            for a in labels:
                a = a.strip()
                if a and a != label and a not in aliases:
                    aliases.append(a)
            skill_type = slugify(row.get("skillType") or "")
            records.append(
                {
                    "id": sid,
                    "name": label,
                    "category": f"esco-{skill_type}" if skill_type else "esco",
                    "aliases": aliases,
                    "related": {},
                    "description": (row.get("description") or "").strip(),
                    "uri": uri,
                }
            )
    return records


def _counted(fh, on_bytes):
    for line in fh:
        on_bytes(len(line.encode("utf-8")))
        yield line
