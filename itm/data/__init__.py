"""Data files shipped with itm (the curated skills taxonomy: skills.json)."""
