// Run in the page by test_pricing_table_browser.py on a <billingos-pricing-table>:
// every element of its shadow root with text of its own, its colour, the
// first opaque background behind it and their WCAG 2 contrast ratio.
(host) => {
  const parse = (value) => {
    const parts = value.match(/[\d.]+/g).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const channel = (v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const color = parse(getComputedStyle(e).backgroundColor);
      if (color.a > 0) return color;
    }
    return null;
  };
  const found = [];
  for (const element of host.shadowRoot.querySelectorAll('*')) {
    const own = [...element.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE);
    const text = own.map((node) => node.textContent).join('').trim();
    if (!text || element.tagName === 'STYLE') continue;
    const style = getComputedStyle(element);
    const box = element.getBoundingClientRect();
    const shown = style.display !== 'none' && style.visibility !== 'hidden';
    if (!shown || box.width <= 1 || box.height <= 1) continue; // the legend is for screen readers
    const back = background(element);
    const font = style.fontFamily;
    if (back === null) {
      found.push({ text, ratio: 0, color: style.color, background: 'none', font });
      continue;
    }
    const [light, dark] = [luminance(parse(style.color)), luminance(back)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    found.push({ text, ratio, color: style.color, background: `rgb(${back.r}, ${back.g}, ${back.b})`, font });
  }
  return found;
}
