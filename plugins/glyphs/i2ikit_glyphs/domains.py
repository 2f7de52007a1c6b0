"""The glyph data's two-domain split: serif faces (domain A) and sans-serif faces (domain B).

Two-domain methods (UNIT, MUNIT, DRIT, GP-UNIT) translate one domain into another; on the glyph data
the domains are typeface classifications, decided per family by hand (a face's name is its family,
then its style words: ``source-serif-pro-bold-italic`` is in ``source-serif-pro``). Families that are
neither (monospace, slab, script, display, math faces) and families not listed (system fonts vary
between machines) belong to no domain, so the split is the same wherever the same font packages are
installed. Training faces are the domains' training images, held-out faces their test images.
"""
from __future__ import annotations

from typing import Sequence

from i2ikit.errors import ConfigError

DOMAIN_FAMILIES: dict[str, tuple[str, ...]] = {
    "serif": ("caladea", "cmb10", "cmr10", "cmti10", "dejavu-serif", "source-serif-pro", "stixgeneral"),
    "sans": ("cmss10", "dejavu-sans", "fjalla-one", "hanken-grotesk", "lato", "manrope", "red-hat-display", "roboto",
             "source-sans-pro"),
}
"""Families per domain; a face belongs to the family its name starts with."""

EXCLUDED_FAMILIES: tuple[str, ...] = ("dejavu-sans-mono",)
"""Families whose names start like a listed one but are not of its kind (DejaVu Sans Mono is monospace)."""


def _in_family(face: str, family: str) -> bool:
    return face == family or face.startswith(family + "-")


def face_domain(face: str) -> str | None:
    """``"serif"``, ``"sans"`` or None (no domain) for a face name such as ``lato-bold-italic``."""
    if any(_in_family(face, f) for f in EXCLUDED_FAMILIES):
        return None
    for domain, families in DOMAIN_FAMILIES.items():
        if any(_in_family(face, f) for f in families):
            return domain
    return None


def domain_faces(faces: Sequence[str], domain: str, *, where: str = "glyphs") -> list[str]:
    """The faces of ``faces`` in ``domain`` (in the order given); an error names the domains if it is unknown."""
    if domain not in DOMAIN_FAMILIES:
        raise ConfigError(f"{where}: domain {domain!r} is not a glyph domain; use one of: {', '.join(DOMAIN_FAMILIES)} "
                          "(or leave domain out for every face)")
    found = [f for f in faces if face_domain(f) == domain]
    if not found:
        raise ConfigError(f"{where}: no face of domain {domain!r} in this split (its families: "
                          f"{', '.join(DOMAIN_FAMILIES[domain])}); `i2ikit data glyphs --list` shows the faces found")
    return found
