{% raw %}
// Interactive embedding views of the HTML report: each <figure class="view">
// holds the static PNG (shown without JavaScript), a canvas, and its data
// (<script class="repro-view">, written by the figures stage). A 3-D view
// replaces its PNG: it rotates (drag), zooms (wheel, pinch) and resets
// (double-click), starting from the static figure's angle, and its legend
// hides and shows a class. A 2-D view keeps its PNG, with a transparent
// canvas over it. In both, hovering a point names its class, predicted
// class and test-image index. A curves figure keeps its PNG too: hovering
// a panel gives every line's value at the epoch under the cursor. No
// network, no library: works from file://.
"use strict";
(function () {
  const RADIUS = 3;
  const PICK = 8;

  // plotters' ProjectionMatrix::rotate(x, y, z), the 3x3 part.
  function rotate(x, y, z) {
    const [c, b, a] = [x, y, z];
    return [
      [Math.cos(a) * Math.cos(b), Math.cos(a) * Math.sin(b) * Math.sin(c) - Math.sin(a) * Math.cos(c),
        Math.cos(a) * Math.sin(b) * Math.cos(c) + Math.sin(a) * Math.sin(c)],
      [Math.sin(a) * Math.cos(b), Math.sin(a) * Math.sin(b) * Math.sin(c) + Math.cos(a) * Math.cos(c),
        Math.sin(a) * Math.sin(b) * Math.cos(c) - Math.cos(a) * Math.sin(c)],
      [-Math.sin(b), Math.cos(b) * Math.sin(c), Math.cos(b) * Math.cos(c)],
    ];
  }

  function multiply(m, n) {
    return m.map((row) => [0, 1, 2].map((c) => row[0] * n[0][c] + row[1] * n[1][c] + row[2] * n[2][c]));
  }

  function hexValues(text, width) {
    const out = new Float64Array(text.length / width);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * width, width), 16);
    return out;
  }

  class View {
    constructor(figure, data) {
      this.data = data;
      this.dims = data.dims;
      const q = hexValues(data.points, 4);
      this.n = q.length / this.dims;
      this.unit = Float64Array.from(q, (v) => v / 65535);
      this.labels = hexValues(data.labels, 2);
      this.predictions = data.predictions ? hexValues(data.predictions, 2) : null;
      this.hidden = new Set();
      this.canvas = figure.querySelector("canvas");
      this.tip = figure.querySelector(".tip");
      this.ctx = this.canvas.getContext("2d");
      this.reset();
      this.listen();
      figure.classList.add("live");
      if (this.dims === 3) {
        this.legend(figure.querySelector(".legend"));
        figure.querySelector("img").hidden = true;
        figure.classList.add("turnable");
      } else {
        this.canvas.classList.add("overlay");
      }
      this.canvas.hidden = false;
      this.canvas.reproView = this;
      this.draw();
    }

    reset() {
      this.yaw = this.data.yaw;
      this.pitch = this.data.pitch;
      this.zoom = 1;
    }

    // The canvas position of every point (as plotters projects the static
    // figure: axes mapped onto a cube, rotated by yaw then pitch, scaled).
    project() {
      const { width: w, height: h } = this.canvas;
      const screen = new Float64Array(this.n * 2);
      const depth = new Float64Array(this.n);
      if (this.dims === 2) {
        // The static figure's plotting area, in its pixels (= the canvas's).
        const [x0, y0, x1, y1] = this.data.plot;
        for (let i = 0; i < this.n; i++) {
          screen[2 * i] = x0 + this.unit[2 * i] * (x1 - x0);
          screen[2 * i + 1] = y1 - this.unit[2 * i + 1] * (y1 - y0);
        }
        return { screen, depth };
      }
      const size = Math.min(w - 40, h - 70) * 0.8;
      const m = multiply(rotate(this.pitch, 0, 0), multiply(rotate(0, this.yaw, 0), rotate(Math.PI, 0, 0)));
      const scale = this.data.scale * this.zoom;
      const [cx, cy] = [w / 2, 30 + (h - 30) / 2];
      const at = (u) => {
        const p = u.map((v) => (v - 0.5) * size);
        return [0, 1, 2].map((r) => m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2]);
      };
      for (let i = 0; i < this.n; i++) {
        const [x, y, z] = at([this.unit[3 * i], this.unit[3 * i + 1], this.unit[3 * i + 2]]);
        screen[2 * i] = cx + scale * x;
        screen[2 * i + 1] = cy + scale * y;
        depth[i] = z;
      }
      this.corner = (u) => {
        const [x, y] = at(u);
        return [cx + scale * x, cy + scale * y];
      };
      return { screen, depth };
    }

    draw() {
      const { ctx, canvas } = this;
      if (this.dims === 2) {
        this.screen = this.project().screen;
        return;
      }
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = "#000000";
      ctx.font = "16px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(this.data.title, canvas.width / 2, 22);
      const { screen, depth } = this.project();
      this.screen = screen;
      this.axes();
      const order = [...Array(this.n).keys()].filter((i) => !this.hidden.has(this.labels[i]));
      if (this.dims === 3) order.sort((a, b) => depth[b] - depth[a]);
      for (const i of order) {
        ctx.fillStyle = this.data.colours[this.labels[i] % this.data.colours.length];
        ctx.beginPath();
        ctx.arc(screen[2 * i], screen[2 * i + 1], RADIUS, 0, 2 * Math.PI);
        ctx.fill();
      }
    }

    axes() {
      const { ctx } = this;
      ctx.strokeStyle = "#b0b0b0";
      ctx.lineWidth = 1;
      ctx.fillStyle = "#444444";
      ctx.font = "12px sans-serif";
      const cube = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]];
      for (const a of cube) {
        for (const b of cube) {
          const diff = a.filter((v, k) => v !== b[k]).length;
          if (diff !== 1 || a.join() > b.join()) continue;
          const [p, q] = [this.corner(a), this.corner(b)];
          ctx.beginPath();
          ctx.moveTo(p[0], p[1]);
          ctx.lineTo(q[0], q[1]);
          ctx.stroke();
        }
      }
      ["x", "y", "z"].forEach((name, k) => {
        const u = [0, 0, 0];
        u[k] = 1.08;
        const [x, y] = this.corner(u);
        const [lo, hi] = this.data.ranges[k];
        ctx.fillText(`${name} (${lo.toFixed(1)} to ${hi.toFixed(1)})`, x, y);
      });
    }

    legend(box) {
      this.data.classes.forEach((name, c) => {
        const item = document.createElement("button");
        item.type = "button";
        item.className = "legend-item";
        item.setAttribute("aria-pressed", "true");
        item.dataset.class = String(c);
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = this.data.colours[c % this.data.colours.length];
        item.append(swatch, document.createTextNode(name));
        item.addEventListener("click", () => {
          if (this.hidden.has(c)) this.hidden.delete(c);
          else this.hidden.add(c);
          item.setAttribute("aria-pressed", String(!this.hidden.has(c)));
          this.draw();
        });
        box.append(item);
      });
    }

    // The canvas position of a pointer event (the canvas may be scaled by CSS).
    at(event) {
      const r = this.canvas.getBoundingClientRect();
      return [(event.clientX - r.left) * this.canvas.width / r.width, (event.clientY - r.top) * this.canvas.height / r.height];
    }

    // Where point i is drawn, in CSS pixels of the page (for the browser test).
    screenOf(i) {
      const r = this.canvas.getBoundingClientRect();
      return [r.left + this.screen[2 * i] * r.width / this.canvas.width, r.top + this.screen[2 * i + 1] * r.height / this.canvas.height];
    }

    nearest(x, y) {
      let [best, bestDistance] = [-1, PICK * PICK];
      for (let i = 0; i < this.n; i++) {
        if (this.hidden.has(this.labels[i])) continue;
        const d = (this.screen[2 * i] - x) ** 2 + (this.screen[2 * i + 1] - y) ** 2;
        if (d < bestDistance) [best, bestDistance] = [i, d];
      }
      return best;
    }

    hover(event) {
      const [x, y] = this.at(event);
      const i = this.nearest(x, y);
      if (i < 0) {
        this.tip.hidden = true;
        return;
      }
      const classes = this.data.classes;
      const predicted = this.predictions ? classes[this.predictions[i]] : "not recorded";
      const index = this.data.indices.length ? `test image #${this.data.indices[i]}` : `point ${i}`;
      this.tip.textContent = `${classes[this.labels[i]]} (predicted: ${predicted}), ${index}`;
      this.tip.dataset.point = String(i);
      const box = this.canvas.parentElement.getBoundingClientRect();
      this.tip.style.left = `${event.clientX - box.left + 12}px`;
      this.tip.style.top = `${event.clientY - box.top + 12}px`;
      this.tip.hidden = false;
    }

    listen() {
      const c = this.canvas;
      const pointers = new Map();
      let pinch = null;
      c.addEventListener("pointerdown", (e) => {
        pointers.set(e.pointerId, [e.clientX, e.clientY]);
        c.setPointerCapture(e.pointerId);
      });
      const release = (e) => {
        pointers.delete(e.pointerId);
        pinch = null;
      };
      c.addEventListener("pointerup", release);
      c.addEventListener("pointercancel", release);
      c.addEventListener("pointerleave", () => {
        this.tip.hidden = true;
      });
      c.addEventListener("pointermove", (e) => {
        if (!pointers.has(e.pointerId)) return this.hover(e);
        const [px, py] = pointers.get(e.pointerId);
        pointers.set(e.pointerId, [e.clientX, e.clientY]);
        if (this.dims !== 3) return;
        this.tip.hidden = true;
        if (pointers.size === 2) {
          const [a, b] = [...pointers.values()];
          const apart = Math.hypot(a[0] - b[0], a[1] - b[1]);
          if (pinch) this.zoom = Math.min(20, Math.max(0.2, this.zoom * apart / pinch));
          pinch = apart;
        } else {
          this.yaw += (e.clientX - px) * 0.01;
          this.pitch += (e.clientY - py) * 0.01;
        }
        this.draw();
      });
      c.addEventListener("wheel", (e) => {
        if (this.dims !== 3) return;
        e.preventDefault();
        this.zoom = Math.min(20, Math.max(0.2, this.zoom * Math.exp(-e.deltaY * 0.001)));
        this.draw();
      }, { passive: false });
      c.addEventListener("dblclick", () => {
        this.reset();
        this.draw();
      });
    }
  }

  // A curves figure (accuracy and loss by epoch): a transparent canvas over
  // its PNG marks the epoch under the cursor in the panel it is over, and
  // the tip gives every line's value there.
  class CurveView {
    constructor(figure, data) {
      this.data = data;
      this.canvas = figure.querySelector("canvas");
      this.tip = figure.querySelector(".tip");
      [this.canvas.width, this.canvas.height] = data.size;
      this.ctx = this.canvas.getContext("2d");
      this.canvas.addEventListener("pointermove", (e) => this.hover(e));
      this.canvas.addEventListener("pointerleave", () => this.clear());
      this.canvas.hidden = false;
      this.canvas.reproCurves = this;
      figure.classList.add("live");
    }

    at(event) {
      const r = this.canvas.getBoundingClientRect();
      return [(event.clientX - r.left) * this.canvas.width / r.width, (event.clientY - r.top) * this.canvas.height / r.height];
    }

    xOf(panel, epoch) {
      const [l, , r] = panel.plot;
      return l + (epoch - panel.x[0]) / (panel.x[1] - panel.x[0]) * (r - l);
    }

    yOf(panel, value) {
      const [, t, , b] = panel.plot;
      return b - (value - panel.y[0]) / (panel.y[1] - panel.y[0]) * (b - t);
    }

    // The panel under canvas position (x, y) and the epoch nearest to x
    // that a line has, or null. The first and last epochs sit on the
    // plot's edges: a few pixels outside still count.
    pick(x, y) {
      for (const panel of this.data.panels) {
        const [l, t, r, b] = panel.plot;
        if (x < l - PICK || x > r + PICK || y < t || y > b) continue;
        const epochs = panel.lines.flatMap((line) => line.points.map((p) => p[0]));
        if (!epochs.length) return null;
        const epoch = epochs.reduce((best, e) => (Math.abs(this.xOf(panel, e) - x) < Math.abs(this.xOf(panel, best) - x) ? e : best));
        return { panel, epoch };
      }
      return null;
    }

    // Page position (CSS pixels) of a line's point, for the browser test.
    screenOf(p, epoch, value) {
      const panel = this.data.panels[p];
      const r = this.canvas.getBoundingClientRect();
      return [r.left + this.xOf(panel, epoch) * r.width / this.canvas.width, r.top + this.yOf(panel, value) * r.height / this.canvas.height];
    }

    clear() {
      this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
      this.tip.hidden = true;
    }

    hover(event) {
      const [x, y] = this.at(event);
      const found = this.pick(x, y);
      this.clear();
      if (!found) return;
      const { panel, epoch } = found;
      const ctx = this.ctx;
      const px = this.xOf(panel, epoch);
      ctx.strokeStyle = "#808080";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(px, panel.plot[1]);
      ctx.lineTo(px, panel.plot[3]);
      ctx.stroke();
      const values = [];
      for (const line of panel.lines) {
        const point = line.points.find((p) => p[0] === epoch);
        if (!point) continue;
        values.push(`${line.name} ${point[1].toFixed(4)}`);
        ctx.strokeStyle = line.colour;
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(px, this.yOf(panel, point[1]), 5, 0, 2 * Math.PI);
        ctx.stroke();
      }
      this.tip.textContent = `epoch ${epoch}, ${panel.what}: ${values.join(", ")}`;
      this.tip.hidden = false;
      // Over the right panel the tip goes left of the cursor, so it stays
      // over the figure.
      const box = this.canvas.parentElement.getBoundingClientRect();
      const [tx, ty] = [event.clientX - box.left, event.clientY - box.top];
      const left = tx > box.width / 2 ? tx - 12 - this.tip.offsetWidth : tx + 12;
      this.tip.style.left = `${left}px`;
      this.tip.style.top = `${ty + 12}px`;
    }
  }

  for (const figure of document.querySelectorAll("figure.view")) {
    const data = JSON.parse(figure.querySelector("script.repro-view").textContent);
    new View(figure, data);
  }
  for (const figure of document.querySelectorAll("figure.curves")) {
    new CurveView(figure, JSON.parse(figure.querySelector("script.repro-curves").textContent));
  }
})();
{% endraw %}
