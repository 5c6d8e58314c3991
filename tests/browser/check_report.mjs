// Renders the HTML report in headless Chromium (Debian's package) and
// fails unless every image loaded and every table rendered with rows.
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
  await page.goto(pathToFileURL(resolve(report)).href, { waitUntil: "load" });
  const found = await page.evaluate(() => ({
    images: [...document.images].map((img) => ({
      src: img.getAttribute("src"),
      loaded: img.complete && img.naturalWidth > 0,
      shown: img.getBoundingClientRect().height > 0,
    })),
    tables: [...document.querySelectorAll("table")].map((t, i) => ({
      id: t.id || `table #${i + 1}`,
      rows: t.rows.length,
      height: t.getBoundingClientRect().height,
    })),
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  const problems = [];
  for (const img of found.images) if (!img.loaded || !img.shown) problems.push(`image did not load: ${img.src}`);
  for (const t of found.tables) if (t.rows < 1 || t.height <= 0) problems.push(`table did not render: ${t.id}`);
  if (found.images.length < Number(minImages)) problems.push(`expected at least ${minImages} images, found ${found.images.length}`);
  if (found.tables.length === 0) problems.push("no table in the report");
  console.log(`${report}: ${found.images.length} images loaded, ${found.tables.length} tables rendered; screenshot ${screenshot}`);
  if (problems.length) {
    for (const p of problems) console.error(`error: ${report}: ${p}`);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}
