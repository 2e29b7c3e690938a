// Runs inside the browser (test/browser.test.ts evaluates it in report.html): plain
// JavaScript, as the project compiles without the DOM library. Opens every collapsed
// section, measures every top-level SVG (one hidden by a selector, e.g. one page map of
// several shown at a time, is measured in a visible copy) and counts the images drawn.
(() => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const shelf = document.createElement('div');
  shelf.style.cssText = 'position:absolute;left:0;top:0;visibility:visible;display:block';
  document.body.append(shelf);
  const svgs = [...document.querySelectorAll('svg')]
    .filter((svg) => svg.ownerSVGElement === null)
    .map((svg, i) => {
      let target = svg;
      if (svg.getClientRects().length === 0) {
        target = svg.cloneNode(true);
        shelf.append(target);
      }
      const box = target.getBoundingClientRect();
      const drawn = target.getBBox();
      const parent = svg.parentElement;
      const where = `svg #${i}${svg.id ? ` id=${svg.id}` : ''} in <${parent ? parent.tagName.toLowerCase() : '?'}${parent?.className ? ` class=${String(parent.className)}` : ''}>`;
      return { where, width: box.width, height: box.height, drawnWidth: drawn.width, drawnHeight: drawn.height };
    });
  shelf.remove();
  const images = [...document.querySelectorAll('img')];
  const broken = images.filter((img) => !img.complete || img.naturalWidth === 0).map((img) => img.src.slice(0, 80));
  return { svgs, broken, images: images.length - broken.length };
})();
