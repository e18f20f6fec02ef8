// An answer's chart: the server's SVG (sabio.tables.charts) shown as an image (an SVG in
// an <img> runs no script and loads nothing), saved as SVG or, drawn on a canvas, as PNG.

import { t } from "./i18n.js";
import { h } from "./ui.js";

export function chartView(svg) {
  const url = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
  const label = new DOMParser().parseFromString(svg, "image/svg+xml").documentElement.getAttribute("aria-label") || t("chart.alt");
  const image = h("img.chart-image", { src: url, alt: label });
  return h(
    "figure.chart",
    {},
    image,
    h(
      "figcaption.chart-actions",
      {},
      h("a.button.small", { href: url, download: `${t("chart.file")}.svg` }, t("chart.svg")),
      h("button.button.small", { type: "button", onclick: () => savePng(image) }, t("chart.png")),
    ),
  );
}

// The image drawn at twice its size on a canvas, downloaded as a PNG file.
function savePng(image) {
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth * 2;
  canvas.height = image.naturalHeight * 2;
  canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
  canvas.toBlob((blob) => {
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: `${t("chart.file")}.png` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }, "image/png");
}
