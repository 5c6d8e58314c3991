// Renders the HTML report in headless Chromium (Debian's package) and
// fails unless every image loaded, every table rendered with rows, no
// script logged an error, and every interactive embedding view works:
// it renders; a drag turns a 3-D view (its pixels change); hiding a class
// in its legend leaves no pixel of that class's colour; hovering a known
// point shows that point's class and test image; hovering a curves figure
// at a known epoch shows that epoch's values, and leaving it hides them.
// Usage: node check_report.mjs REPORT.html SCREENSHOT.png [MIN_IMAGES]
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [report, screenshot, minImages = "1"] = process.argv.slice(2);
if (!report || !screenshot) {
  console.error("usage: node check_report.mjs REPORT.html SCREENSHOT.png [MIN_IMAGES]");
  process.exit(2);
}
// Without the background-networking flags Chromium keeps dialling Google's
// hosts, which this closed network refuses.
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "chromium-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 900 },
});
try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(pathToFileURL(resolve(report)).href, { waitUntil: "load" });
  const found = await page.evaluate(() => ({
    // A 3-D view's PNG is replaced by its canvas: it must load, not show.
    images: [...document.images].map((img) => ({
      src: img.getAttribute("src"),
      loaded: img.complete && img.naturalWidth > 0,
      shown: img.getBoundingClientRect().height > 0 || (img.hidden && img.closest(".viewer")?.querySelector("canvas:not([hidden])") !== null),
    })),
    tables: [...document.querySelectorAll("table")].map((t, i) => ({
      id: t.id || `table #${i + 1}`,
      rows: t.rows.length,
      height: t.getBoundingClientRect().height,
    })),
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  const problems = [];
  const views = await checkViews(page, problems);
  const curves = await checkCurves(page, problems);
  for (const img of found.images) if (!img.loaded || !img.shown) problems.push(`image did not load: ${img.src}`);
  for (const t of found.tables) if (t.rows < 1 || t.height <= 0) problems.push(`table did not render: ${t.id}`);
  if (found.images.length < Number(minImages)) problems.push(`expected at least ${minImages} images, found ${found.images.length}`);
  if (found.tables.length === 0) problems.push("no table in the report");
  for (const e of consoleErrors) problems.push(`console error: ${e}`);
  console.log(`${report}: ${found.images.length} images loaded, ${found.tables.length} tables rendered, ${views} interactive views and ${curves} curves figures checked; screenshot ${screenshot}`);
  if (problems.length) {
    for (const p of problems) console.error(`error: ${report}: ${p}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}

// Pixels of the view's canvas that are exactly `colour` (#rrggbb).
async function pixelsOf(page, n, colour) {
  return page.evaluate(([n, colour]) => {
    const c = document.querySelectorAll("figure.view canvas")[n];
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const [r, g, b] = [1, 3, 5].map((k) => parseInt(colour.substr(k, 2), 16));
    let count = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) count++;
    return count;
  }, [n, colour]);
}

async function canvasDigest(page, n) {
  return page.evaluate((n) => document.querySelectorAll("figure.view canvas")[n].toDataURL(), n);
}

// The visible point farthest from its nearest neighbour, in page pixels,
// with the class and test image the tooltip must name; none when every
// point has another within 4 px (the hover could pick either). A dense
// view (2,000 points) has no point alone within 10 px, but some with the
// nearest a few pixels away.
async function isolatedPoint(page, n) {
  return page.evaluate((n) => {
    const v = document.querySelectorAll("figure.view canvas")[n].reproView;
    const at = [...Array(v.n).keys()].map((i) => v.screenOf(i));
    const r = v.canvas.getBoundingClientRect();
    let [best, bestGap] = [null, 16];
    for (let i = 0; i < v.n; i++) {
      if (v.hidden.has(v.labels[i])) continue;
      const [x, y] = at[i];
      if (x < r.left + 15 || x > r.right - 15 || y < r.top + 40 || y > r.bottom - 15) continue;
      // In the viewport: the mouse cannot reach a point scrolled out of it.
      if (x < 5 || y < 5 || x > window.innerWidth - 5 || y > window.innerHeight - 5) continue;
      let gap = Infinity;
      for (let j = 0; j < v.n && gap > bestGap; j++) {
        if (j !== i && !v.hidden.has(v.labels[j])) gap = Math.min(gap, (at[j][0] - x) ** 2 + (at[j][1] - y) ** 2);
      }
      if (gap > bestGap) [best, bestGap] = [{ x, y, name: v.data.classes[v.labels[i]], image: v.data.indices[i] }, gap];
    }
    return best;
  }, n);
}

async function checkViews(page, problems) {
  const views = await page.evaluate(() =>
    [...document.querySelectorAll("figure.view")].map((f) => ({
      id: f.id,
      live: f.querySelector("canvas").reproView !== undefined && !f.querySelector("canvas").hidden,
      dims: f.querySelector("canvas").reproView?.dims,
      colour: f.querySelector("canvas").reproView?.data.colours[0],
    })));
  for (const [n, view] of views.entries()) {
    if (!view.live) { problems.push(`view ${view.id} did not start`); continue; }
    await page.locator(`#${view.id} canvas`).scrollIntoViewIfNeeded();
    if (view.dims === 3) {
      const before = await canvasDigest(page, n);
      const box = await page.locator(`#${view.id} canvas`).boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2 + 80, box.y + box.height / 2 + 30, { steps: 5 });
      await page.mouse.up();
      if ((await canvasDigest(page, n)) === before) problems.push(`view ${view.id}: a drag changed no pixel`);
      await page.mouse.dblclick(box.x + 5, box.y + 5);
      if ((await canvasDigest(page, n)) !== before) problems.push(`view ${view.id}: a double-click did not reset the view`);
      const shown = await pixelsOf(page, n, view.colour);
      await page.locator(`#${view.id} .legend-item[data-class="0"]`).click();
      const hidden = await pixelsOf(page, n, view.colour);
      if (shown === 0 || hidden !== 0) problems.push(`view ${view.id}: class 0 had ${shown} pixels shown and ${hidden} hidden`);
      await page.locator(`#${view.id} .legend-item[data-class="0"]`).click();
      if ((await pixelsOf(page, n, view.colour)) !== shown) problems.push(`view ${view.id}: showing class 0 again did not restore it`);
    }
    // The legend's clicks may have scrolled the canvas partly out of view.
    await page.locator(`#${view.id} canvas`).scrollIntoViewIfNeeded();
    const point = await isolatedPoint(page, n);
    if (!point) { problems.push(`view ${view.id}: no isolated point to hover`); continue; }
    await page.mouse.move(point.x, point.y);
    const tip = await page.locator(`#${view.id} .tip`).textContent();
    const visible = await page.locator(`#${view.id} .tip`).isVisible();
    if (!visible || !tip.startsWith(point.name) || !tip.includes(`#${point.image}`)) {
      problems.push(`view ${view.id}: hovering a ${point.name} point (test image #${point.image}) showed "${tip}"`);
    }
    await page.mouse.move(0, 0);
  }
  return views.length;
}

// Each curves figure: its overlay started, and hovering the first line's
// middle point in each panel names that epoch and the line's value there.
async function checkCurves(page, problems) {
  const figures = await page.evaluate(() =>
    [...document.querySelectorAll("figure.curves")].map((f) => ({
      id: f.id,
      live: f.querySelector("canvas").reproCurves !== undefined && !f.querySelector("canvas").hidden,
      panels: f.querySelector("canvas").reproCurves?.data.panels.length ?? 0,
    })));
  for (const figure of figures) {
    if (!figure.live) { problems.push(`curves ${figure.id} did not start`); continue; }
    await page.locator(`#${figure.id} canvas`).scrollIntoViewIfNeeded();
    for (let p = 0; p < figure.panels; p++) {
      const point = await page.evaluate(([id, p]) => {
        const v = document.querySelector(`#${id} canvas`).reproCurves;
        const line = v.data.panels[p].lines[0];
        const [epoch, value] = line.points[Math.floor((line.points.length - 1) / 2)];
        const [x, y] = v.screenOf(p, epoch, value);
        return { x, y, epoch, text: `${line.name} ${value.toFixed(4)}` };
      }, [figure.id, p]);
      await page.mouse.move(point.x, point.y);
      const tip = page.locator(`#${figure.id} .tip`);
      const said = await tip.textContent();
      if (!(await tip.isVisible()) || !said.startsWith(`epoch ${point.epoch},`) || !said.includes(point.text)) {
        problems.push(`curves ${figure.id}: hovering epoch ${point.epoch} of panel ${p} showed "${said}", not "${point.text}"`);
      }
      await page.mouse.move(0, 0);
      if (await tip.isVisible()) problems.push(`curves ${figure.id}: the tip stayed after the pointer left`);
    }
  }
  return figures.length;
}
