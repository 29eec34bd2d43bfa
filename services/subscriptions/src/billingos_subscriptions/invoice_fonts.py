"""The fonts an invoice is drawn with, chosen per character, so a customer's
or product's name in any script prints as written or visibly not at all,
never as wrong glyphs. reportlab's own fonts (the PDF standard's Helvetica)
know only Windows-1252 (Western European) characters, so each character
takes the first of:

1. a Unicode TrueType font: the one configured
   (`BILLINGOS_SUBSCRIPTIONS_INVOICE_FONT`, and `…_INVOICE_BOLD_FONT`), else
   the first found of the usual system ones (DejaVu Sans on Debian, Ubuntu,
   Fedora and Arch; Liberation or Noto Sans; Arial Unicode or Arial on a
   Mac; Arial on Windows), embedded as a subset of what the invoice uses;
2. for Chinese, Japanese and Korean text that font lacks, Adobe's CID fonts
   that PDF viewers bring with them (STSong-Light, HeiseiKakuGo-W5,
   HYGothic-Medium): nothing to install and nothing embedded;
3. Helvetica, for what Windows-1252 has (a machine with no font at all
   still prints Western names right);
4. otherwise "?", logged once with the setting to fix it: a clear gap.

Right-to-left scripts (Arabic, Hebrew) are drawn in logical order and
without shaping: reportlab's bidi support needs a package with no wheels.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = logging.getLogger(__name__)

# (regular, bold) pairs, in the order tried; a missing bold uses the regular.
SYSTEM_FONTS: tuple[tuple[str, str], ...] = (
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    (
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    ),
    ("/System/Library/Fonts/Supplemental/Arial Unicode.ttf", ""),
    ("/Library/Fonts/Arial Unicode.ttf", ""),
    (
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    ),
    ("C:\\Windows\\Fonts\\arial.ttf", "C:\\Windows\\Fonts\\arialbd.ttf"),
)

HELVETICA = ("Helvetica", "Helvetica-Bold")
# Adobe's CID fonts for each of Chinese, Japanese and Korean text.
CJK_SIMPLIFIED_CHINESE = "STSong-Light"
CJK_JAPANESE = "HeiseiKakuGo-W5"
CJK_KOREAN = "HYGothic-Medium"
MISSING = "?"

_HANGUL = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF))
_KANA = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF65, 0xFF9F))
_HAN = (
    (0x2E80, 0x2FDF),
    (0x3000, 0x303F),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0xFF00, 0xFFEF),
    (0x20000, 0x2FA1F),
)


def _within(ranges: Sequence[tuple[int, int]], character: str) -> bool:
    point = ord(character)
    return any(low <= point <= high for low, high in ranges)


def _in_windows_1252(character: str) -> bool:
    try:
        character.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Face:
    """A registered font and which characters it draws."""

    name: str
    covers: Callable[[str], bool]


_REGISTERED: dict[str, TTFont] = {}


def _registered_ttf(path: str) -> Face | None:
    """The TrueType font at `path`, registered under a name of its own (once
    per process: reportlab's registry is global), or None if it is not a
    TrueType font reportlab reads (a collection, CFF outlines)."""
    name = "BillingOS-" + hashlib.sha256(path.encode()).hexdigest()[:12]
    font = _REGISTERED.get(name)
    if font is None:
        try:
            font = TTFont(name, path)
        except (TTFError, OSError, ValueError) as problem:
            log.warning("invoice font not usable", extra={"path": path, "problem": str(problem)})
            return None
        pdfmetrics.registerFont(font)
        _REGISTERED[name] = font
    glyphs = frozenset(font.face.charToGlyph)
    return Face(name, lambda character: ord(character) in glyphs)


def _cid(name: str) -> str:
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    return name


def cjk_font_for(text: str) -> str:
    """The CID font for a text's Chinese, Japanese or Korean characters:
    Korean where it has Hangul, Japanese where it has kana, else Chinese."""
    if any(_within(_HANGUL, c) for c in text):
        return _cid(CJK_KOREAN)
    if any(_within(_KANA, c) for c in text):
        return _cid(CJK_JAPANESE)
    return _cid(CJK_SIMPLIFIED_CHINESE)


def _is_cjk(character: str) -> bool:
    return _within(_HAN, character) or _within(_KANA, character) or _within(_HANGUL, character)


class InvoiceFonts:
    """The invoice's fonts (see the module's docstring). `regular`/`bold`:
    TrueType files to use first; `system`: the system fonts to look for
    when none is given (empty: none, as on a machine without fonts)."""

    def __init__(
        self,
        regular: str = "",
        bold: str = "",
        *,
        system: Sequence[tuple[str, str]] = SYSTEM_FONTS,
    ) -> None:
        self._unicode: tuple[Face, Face] | None = None
        candidates = [(regular, bold or regular)] if regular else list(system)
        for regular_path, bold_path in candidates:
            if not os.path.isfile(regular_path):
                continue
            face = _registered_ttf(regular_path)
            if face is None:
                continue
            bold_face = (
                _registered_ttf(bold_path) if bold_path and Path(bold_path).is_file() else None
            )
            self._unicode = (face, bold_face or face)
            break
        if self._unicode is None:
            log.warning(
                "no Unicode TrueType font found for invoices: only Western European and "
                "Chinese, Japanese and Korean text prints; set "
                "BILLINGOS_SUBSCRIPTIONS_INVOICE_FONT to a .ttf file",
            )
        self._warned = False

    @property
    def unicode_font(self) -> str | None:
        """The registered name of the Unicode TrueType font, if one was found."""
        return None if self._unicode is None else self._unicode[0].name

    def runs(self, text: str, *, bold: bool = False) -> list[tuple[str, str]]:
        """`text` cut into runs of one font each: (font name, characters)."""
        runs: list[tuple[str, str]] = []
        missing = False
        for character in text:
            if character.isspace() and runs:
                font, chars = runs[-1]
                runs[-1] = (font, chars + " ")
                continue
            font, shown = self._font_of(character, text, bold)
            missing = missing or (shown == MISSING and character != MISSING)
            if runs and runs[-1][0] == font:
                runs[-1] = (font, runs[-1][1] + shown)
            else:
                runs.append((font, shown))
        if missing and not self._warned:
            self._warned = True
            log.warning(
                "an invoice has characters no font here draws, printed as '?'; set "
                "BILLINGOS_SUBSCRIPTIONS_INVOICE_FONT to a .ttf file that has them",
            )
        return runs

    def _font_of(self, character: str, text: str, bold: bool) -> tuple[str, str]:
        if character.isspace():
            character = " "
        if self._unicode is not None:
            face = self._unicode[1 if bold else 0]
            if face.covers(character):
                return face.name, character
        if _is_cjk(character):
            return cjk_font_for(text), character
        helvetica = HELVETICA[1 if bold else 0]
        if _in_windows_1252(character):
            return helvetica, character
        return helvetica, MISSING

    def width(self, text: str, size: float, *, bold: bool = False) -> float:
        """How wide `text` is drawn at `size` points."""
        return sum(
            pdfmetrics.stringWidth(chars, font, size) for font, chars in self.runs(text, bold=bold)
        )
