// An organization's brand colour on the page, with every text on it kept at
// a WCAG 2 contrast of 4.5:1 or more whatever the colour: the text on a
// brand-coloured surface (the header, the Pay button) is black or white,
// whichever contrasts more; for any colour that choice reaches at least
// 4.58:1 ((1.05 / 0.05)^0.5: the two ratios multiply to 21). A colour that
// is too light against the white page for a focus ring (3:1, WCAG 1.4.11)
// is not used for one.

const HEX = /^#([0-9a-f]{6})$/i;

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** "#1d4ed8" as channels; null for anything but #RRGGBB. */
export function parseHex(value: string | undefined): Rgb | null {
  const match = HEX.exec((value ?? '').trim());
  if (!match) return null;
  const n = Number.parseInt(match[1] ?? '', 16);
  return { r: (n >> 16) & 255, g: (n >> 8) & 255, b: n & 255 };
}

function channel(value: number): number {
  const c = value / 255;
  return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** WCAG 2 relative luminance. */
export function luminance(color: Rgb): number {
  return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b);
}

/** WCAG 2 contrast ratio of two colours (1 to 21). */
export function contrast(a: Rgb, b: Rgb): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

const BLACK: Rgb = { r: 0, g: 0, b: 0 };
const WHITE: Rgb = { r: 255, g: 255, b: 255 };

/** The brand's CSS: its colour and the text colour on it; null without a
 * valid colour (the page's own theme then). `page` is the background the
 * focus ring is drawn on. */
export interface BrandColors {
  brand: string;
  onBrand: string;
  /** The brand colour where it is 3:1 against the page, else null. */
  ring: string | null;
}

export function brandColors(value: string | undefined, page: Rgb = WHITE): BrandColors | null {
  const color = parseHex(value);
  if (color === null) return null;
  const hex = `#${(value ?? '').trim().slice(1).toLowerCase()}`;
  const onBrand = contrast(color, BLACK) >= contrast(color, WHITE) ? '#000000' : '#ffffff';
  return { brand: hex, onBrand, ring: contrast(color, page) >= 3 ? hex : null };
}
