/* vaelab explain: in-page decoders and interactive figures. No network, no dependencies.
   Everything reads the JSON in #vaelab-data. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("vaelab-data").textContent);
  var OKABE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2",
               "#D55E00", "#CC79A7", "#000000", "#999999", "#882255"];

  function f32(b64) {
    var bin = atob(b64), n = bin.length, bytes = new Uint8Array(n);
    for (var i = 0; i < n; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  function arr(a) { return { shape: a.shape, data: f32(a.b64) }; }

  // ---- decoders: dense layers, activation between, output transform --------------
  var ACT = {
    relu: function (v) { return v > 0 ? v : 0; },
    tanh: Math.tanh,
    elu: function (v) { return v > 0 ? v : Math.exp(v) - 1; },
    softplus: function (v) { return v > 20 ? v : Math.log1p(Math.exp(v)); },
    leaky_relu: function (v) { return v > 0 ? v : 0.01 * v; },
    silu: function (v) { return v / (1 + Math.exp(-v)); }
  };
  var DECODERS = {};
  Object.keys(DATA.decoders).forEach(function (name) {
    var d = DATA.decoders[name];
    DECODERS[name] = {
      act: ACT[d.activation] || ACT.relu, output: d.output,
      layers: d.layers.map(function (l) { return { w: arr(l.w), b: arr(l.b) }; })
    };
  });
  function decode(name, z) {
    var dec = DECODERS[name];
    if (!dec) throw new Error("no decoder " + name);
    var h = Float64Array.from(z);
    for (var li = 0; li < dec.layers.length; li++) {
      var L = dec.layers[li], out = L.w.shape[0], inn = L.w.shape[1], W = L.w.data;
      var o = new Float64Array(out);
      for (var i = 0; i < out; i++) {
        var s = L.b.data[i], row = i * inn;
        for (var j = 0; j < inn; j++) s += W[row + j] * h[j];
        o[i] = li < dec.layers.length - 1 ? dec.act(s) : s;
      }
      h = o;
    }
    if (dec.output === "sigmoid") for (var k = 0; k < h.length; k++) h[k] = 1 / (1 + Math.exp(-h[k]));
    return Array.from(h);
  }

  // ---- drawing helpers -------------------------------------------------------------
  // One sample is drawn as a tile of w×h "natural" pixels, scaled by whole numbers where it fits:
  // an image (grey ink on white, or RGB for 3 channels), or for a table of features a bar chart
  // (up to 48 features) or a heat map (more), each feature in standard deviations from its
  // training mean on a diverging scale.
  var IMG = DATA.image_shape, LO = DATA.range[0], HI = DATA.range[1];
  var LOOK = DATA.look || { table: false };
  var C = IMG[0], H = IMG[1], W = IMG[2], D = C * H * W;
  var BLUE = [0, 114, 178], ORANGE = [213, 94, 0];
  var TILE = (function () {
    if (!LOOK.table) return { w: W, h: H, kind: C === 3 || C === 4 ? "rgb" : "grey" };
    if (D <= 48) { var bw = Math.max(1, Math.round(26 / D)); return { w: D * bw, h: Math.max(20, D * bw), bar: bw, kind: "bars" }; }
    var cols = Math.ceil(Math.sqrt(D));
    return { w: cols, h: Math.ceil(D / cols), cols: cols, kind: "heat" };
  })();
  function unit(v) { v = (v - LO) / (HI - LO || 1); return v < 0 ? 0 : v > 1 ? 1 : v; }
  function zscore(px, j) {
    var z = (px[j] - LOOK.mean[j]) / (LOOK.scale[j] || 1);
    return z < -3 ? -3 : z > 3 ? 3 : z;
  }
  function tileData(px) {  // one sample as ImageData of TILE.w × TILE.h
    var im = new ImageData(TILE.w, TILE.h), d = im.data, q, j, v;
    var bg = LOOK.table ? 238 : 255;  // a table's tile on light grey, so its extent shows between white gaps
    for (q = 0; q < d.length; q += 4) { d[q] = d[q + 1] = d[q + 2] = bg; d[q + 3] = 255; }
    if (TILE.kind === "grey" || TILE.kind === "rgb") {
      for (j = 0; j < H * W; j++) {
        q = 4 * j;
        for (var ch = 0; ch < 3; ch++) {
          v = unit(px[(TILE.kind === "rgb" ? ch : 0) * H * W + j]);
          d[q + ch] = Math.round(255 * (TILE.kind === "rgb" ? v : 1 - v));
        }
      }
    } else if (TILE.kind === "bars") {
      var mid = TILE.h / 2;
      for (var x = 0; x < TILE.w; x++) { q = 4 * (Math.floor(mid) * TILE.w + x); d[q] = d[q + 1] = d[q + 2] = 160; }
      for (j = 0; j < D; j++) {
        var z = zscore(px, j), len = Math.round(Math.abs(z) / 3 * (mid - 1)), col = z >= 0 ? BLUE : ORANGE;
        for (var k = 0; k < len; k++) {
          var y = z >= 0 ? Math.floor(mid) - 1 - k : Math.floor(mid) + 1 + k;
          for (var b = 0; b < TILE.bar; b++) {
            if (TILE.bar > 1 && b === TILE.bar - 1) continue;  // a gap between bars
            q = 4 * (y * TILE.w + j * TILE.bar + b); d[q] = col[0]; d[q + 1] = col[1]; d[q + 2] = col[2];
          }
        }
      }
    } else {  // heat map: blue above the mean, orange below, white at it
      for (j = 0; j < D; j++) {
        var t = zscore(px, j) / 3, c2 = t >= 0 ? BLUE : ORANGE, a = Math.abs(t);
        q = 4 * j;
        for (var ch2 = 0; ch2 < 3; ch2++) d[q + ch2] = Math.round(255 + a * (c2[ch2] - 255));
      }
    }
    return im;
  }
  function drawTile(ctx, px, ox, oy, s) {
    var tmp = document.createElement("canvas"); tmp.width = TILE.w; tmp.height = TILE.h;
    tmp.getContext("2d").putImageData(tileData(px), 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, ox, oy, TILE.w * s, TILE.h * s);
  }
  // One sample, as large as the canvas allows at its own aspect ratio, centred.
  function drawImage(canvas, px) {
    var ctx = canvas.getContext("2d"), s = Math.min(canvas.width / TILE.w, canvas.height / TILE.h);
    if (s >= 1) s = Math.floor(s);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawTile(ctx, px, Math.floor((canvas.width - TILE.w * s) / 2), Math.floor((canvas.height - TILE.h * s) / 2), s);
    canvas.dataset.tileW = TILE.w * s; canvas.dataset.tileH = TILE.h * s;
  }
  // n samples in rows of `cols`, with 1-pixel white gaps; the canvas shrinks to fit the tiles.
  function drawGrid(canvas, flat, n, cols) {
    var rows = Math.ceil(n / cols);
    var bw = cols * (TILE.w + 1) - 1, bh = rows * (TILE.h + 1) - 1;  // the grid at one pixel per pixel
    if (!canvas.dataset.maxW) { canvas.dataset.maxW = canvas.width; canvas.dataset.maxH = canvas.height; }
    var mw = +canvas.dataset.maxW, mh = +canvas.dataset.maxH;
    var s = Math.floor(Math.min(mw / bw, mh / bh));
    if (s < 1) {  // more tiles than the canvas holds at 1:1: draw them 1:1, let CSS shrink the canvas
      var f = Math.min(mw / bw, mh / bh);
      canvas.style.width = Math.round(bw * f) + "px"; canvas.style.height = Math.round(bh * f) + "px";
      s = 1;
    }
    canvas.width = bw * s; canvas.height = bh * s;
    var ctx = canvas.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (var i = 0; i < n; i++) {
      drawTile(ctx, flat.subarray ? flat.subarray(i * D, (i + 1) * D) : flat.slice(i * D, (i + 1) * D),
               (i % cols) * (TILE.w + 1) * s, Math.floor(i / cols) * (TILE.h + 1) * s, s);
    }
    canvas.dataset.tiles = n; canvas.dataset.cols = cols;
    canvas.dataset.tileW = TILE.w * s; canvas.dataset.tileH = TILE.h * s;
  }
  // Python's format(v, ".Ng"): the numbers on the page read the same in text, tables and figures.
  function g(v, digits) {
    digits = digits || 3;
    if (v === 0) return "0";
    if (Math.abs(v) >= 100) return v.toFixed(0);
    var e = Math.floor(Math.log10(Math.abs(v)));
    var s = e < -4 ? v.toExponential(digits - 1) : v.toFixed(Math.max(0, digits - 1 - e));
    if (s.indexOf(".") >= 0 && s.indexOf("e") < 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s;
  }
  function niceTicks(lo, hi, n) {
    var span = hi - lo || 1, step = Math.pow(10, Math.floor(Math.log10(span / (n || 5))));
    var err = span / (n || 5) / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) out.push([v, g(Math.abs(v) < 1e-12 ? 0 : v)]);
    return out;
  }
  // Axes in a w×h canvas with margin m; ticks are [value, label] pairs (nice ones by default);
  // a tick whose label would touch a drawn one is left out, so measured values never overlap.
  function axes(ctx, w, h, m, xr, yr, xlabel, ylabel, opt) {
    opt = opt || {};
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    var x0 = m + 8, x1 = w - 12, y0 = h - m, y1 = 10;
    var fx = function (v) { return x0 + (v - xr[0]) / (xr[1] - xr[0] || 1) * (x1 - x0); };
    var fy = function (v) { return y0 - (v - yr[0]) / (yr[1] - yr[0] || 1) * (y0 - y1); };
    ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(x0, y1); ctx.lineTo(x0, y0); ctx.lineTo(x1, y0); ctx.stroke();
    ctx.fillStyle = "#222"; ctx.font = "12px sans-serif";
    ctx.textAlign = "center"; ctx.fillText(xlabel, (x0 + x1) / 2, h - 6);
    ctx.save(); ctx.translate(12, (y0 + y1) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(ylabel, 0, 0); ctx.restore();
    ctx.font = "11px sans-serif";
    var last = -1e9;  // right end of the last drawn x label
    (opt.xticks || niceTicks(xr[0], xr[1], 6)).slice().sort(function (a, b) { return a[0] - b[0]; }).forEach(function (t) {
      var X = fx(t[0]), half = ctx.measureText(t[1]).width / 2;
      if (X < x0 - 1 || X > x1 + 1 || X - half < last + 6) return; last = X + half;
      ctx.beginPath(); ctx.moveTo(X, y0); ctx.lineTo(X, y0 + 4); ctx.stroke(); ctx.fillText(t[1], X, y0 + 15);
    });
    ctx.textAlign = "right"; last = 1e9;
    (opt.yticks || niceTicks(yr[0], yr[1], 5)).slice().sort(function (a, b) { return a[0] - b[0]; }).forEach(function (t) {
      var Y = fy(t[0]); if (Y < y1 - 1 || Y > y0 + 1 || last - Y < 14) return; last = Y;
      ctx.beginPath(); ctx.moveTo(x0 - 4, Y); ctx.lineTo(x0, Y); ctx.stroke(); ctx.fillText(t[1], x0 - 6, Y + 4);
    });
    return { x: fx, y: fy, x0: x0, x1: x1, y0: y0, y1: y1 };
  }
  function fmt(v) { return g(v, 3); }
  function gaussian() {
    var u = 1 - Math.random(), v = Math.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  function $(id) { return document.getElementById(id); }
  function announce(id, text) { var e = $(id); if (e) e.textContent = text; }

  // ---- curse: dimension slider over pairwise-distance histograms --------------------
  function setupCurse() {
    var h = DATA.curse_hist, slider = $("dim-slider"), canvas = $("dim-canvas");
    if (!h || !slider) return;
    slider.max = h.dims.length - 1;
    function draw() {
      var i = +slider.value, counts = h.counts[i], ctx = canvas.getContext("2d");
      var mx = Math.max.apply(null, counts) / h.n_pairs;
      var A = axes(ctx, canvas.width, canvas.height, 40, [h.edges[0], h.edges[h.edges.length - 1]],
                   [0, mx], "distance / mean distance", "share of pairs");
      ctx.fillStyle = OKABE[4];
      for (var k = 0; k < counts.length; k++) {
        var x0 = A.x(h.edges[k]), x1 = A.x(h.edges[k + 1]), y = A.y(counts[k] / h.n_pairs);
        ctx.fillRect(x0, y, Math.max(1, x1 - x0 - 1), A.y(0) - y);
      }
      var text = "d = " + h.dims[i] + ": pairwise distances spread by " +
        (100 * h.relative_sd[i]).toFixed(1) + "% of their mean (standard deviation / mean).";
      announce("dim-readout", text);
      canvas.setAttribute("aria-label", "Histogram of pairwise distances between " + h.n_points +
        " uniform random points in " + h.dims[i] + " dimensions. " + text);
      canvas.dataset.dim = h.dims[i];
    }
    slider.addEventListener("input", draw); draw();
  }

  // ---- PCA explained-variance curve, marked where the text quotes it ---------------
  function setupPCA() {
    var c = $("pca-canvas"), P = DATA.pca; if (!c || !P) return;
    var v = P.cumulative, ctx = c.getContext("2d"), n = v.length;
    var xt = [[1, "1"], [2, "2"], [n, String(n)]];
    if (P.k90) xt.push([P.k90, String(P.k90)]);
    var yt = [[0, "0"], [0.5, "0.5"], [1, "1"]];
    if (P.k90) yt.push([0.9, "0.9"]);
    var A = axes(ctx, c.width, c.height, 40, [1, n], [0, 1], "number of components k", "share of variance kept",
                 { xticks: xt, yticks: yt });
    ctx.strokeStyle = OKABE[4]; ctx.lineWidth = 2; ctx.beginPath();
    v.forEach(function (y, i) { var X = A.x(i + 1), Y = A.y(y); if (i) ctx.lineTo(X, Y); else ctx.moveTo(X, Y); });
    ctx.stroke(); ctx.lineWidth = 1;
    ctx.font = "11px sans-serif"; ctx.textAlign = "left";
    if (P.k90) {  // the quoted k: 90% of the variance
      ctx.strokeStyle = "#777"; ctx.setLineDash([4, 3]); ctx.beginPath();
      ctx.moveTo(A.x0, A.y(0.9)); ctx.lineTo(A.x(P.k90), A.y(0.9)); ctx.lineTo(A.x(P.k90), A.y0); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = "#222";
      ctx.fillText("k = " + P.k90 + " keeps 90%", A.x(P.k90) + 5, A.y(0.9) + 14);
    }
    // the share kept on test data at the k the text quotes (1 − error / error of the mean)
    Object.keys(P.test_kept).forEach(function (k) {
      var X = A.x(+k), Y = A.y(P.test_kept[k]);
      ctx.fillStyle = OKABE[5]; ctx.beginPath(); ctx.arc(X, Y, 4, 0, 2 * Math.PI); ctx.fill();
      if (+k === 2) { ctx.fillStyle = "#222"; ctx.fillText("k = 2: " + g(100 * P.test_kept[k]) + "% on test data", X + 7, Y + 4); }
    });
    // legend
    var lx = A.x1 - 170, ly = A.y0 - 40;
    ctx.strokeStyle = OKABE[4]; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(lx, ly); ctx.lineTo(lx + 18, ly); ctx.stroke();
    ctx.lineWidth = 1; ctx.fillStyle = "#222"; ctx.fillText("training data (variance)", lx + 24, ly + 4);
    ctx.fillStyle = OKABE[5]; ctx.beginPath(); ctx.arc(lx + 9, ly + 18, 4, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = "#222"; ctx.fillText("test data (squared error)", lx + 24, ly + 22);
  }

  // ---- latent explorer: each plane on its own stated scale ---------------------------
  var EXPLORER = null;
  function setupExplorer() {
    var codes = { ae: arr(DATA.codes.ae), vae: arr(DATA.codes.vae) };
    var labels = DATA.code_labels, M = 36;  // margin for the ticks
    var z = [0, 0];
    function frame(kind, c) {
      var e = DATA.extent[kind];  // [xmin, xmax, ymin, ymax], square in code units
      return { e: e, sx: (c.width - M - 6) / (e[1] - e[0]), sy: (c.height - M - 6) / (e[3] - e[2]) };
    }
    function toPix(F, zx, zy) { return [M + (zx - F.e[0]) * F.sx, 6 + (F.e[3] - zy) * F.sy]; }
    function toZ(F, px, py) { return [F.e[0] + (px - M) / F.sx, F.e[3] - (py - 6) / F.sy]; }
    function drawPlane(kind) {
      var c = $("plane-" + kind), ctx = c.getContext("2d"), k = codes[kind], F = frame(kind, c);
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
      ctx.save(); ctx.beginPath(); ctx.rect(M, 6, c.width - M - 6, c.height - M - 6); ctx.clip();
      ctx.strokeStyle = "#aaa"; ctx.setLineDash([4, 4]);  // the prior: 1, 2, 3 standard deviations
      var o = toPix(F, 0, 0);
      for (var r = 1; r <= 3; r++) { ctx.beginPath(); ctx.arc(o[0], o[1], r * F.sx, 0, 2 * Math.PI); ctx.stroke(); }
      ctx.setLineDash([]);
      for (var i = 0; i < k.shape[0]; i++) {
        var p = toPix(F, k.data[2 * i], k.data[2 * i + 1]);
        ctx.fillStyle = labels ? OKABE[labels[i] % 10] : OKABE[4];
        ctx.fillRect(p[0] - 1.5, p[1] - 1.5, 3, 3);
      }
      var m = toPix(F, z[0], z[1]);
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath();
      ctx.arc(m[0], m[1], 7, 0, 2 * Math.PI); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(m[0] - 11, m[1]); ctx.lineTo(m[0] + 11, m[1]);
      ctx.moveTo(m[0], m[1] - 11); ctx.lineTo(m[0], m[1] + 11); ctx.stroke(); ctx.lineWidth = 1;
      ctx.restore();
      // axes: ticks in code units, labelled z1 and z2
      ctx.strokeStyle = "#333"; ctx.fillStyle = "#222"; ctx.font = "11px sans-serif";
      ctx.strokeRect(M + 0.5, 6.5, c.width - M - 6, c.height - M - 6);
      ctx.textAlign = "center";
      niceTicks(F.e[0], F.e[1], 5).forEach(function (t) {
        var X = toPix(F, t[0], 0)[0]; ctx.beginPath(); ctx.moveTo(X, c.height - M); ctx.lineTo(X, c.height - M + 4); ctx.stroke();
        ctx.fillText(t[1], X, c.height - M + 15);
      });
      ctx.fillText("z\u2081", (c.width + M) / 2, c.height - 5);
      ctx.textAlign = "right";
      niceTicks(F.e[2], F.e[3], 5).forEach(function (t) {
        var Y = toPix(F, 0, t[0])[1]; ctx.beginPath(); ctx.moveTo(M - 4, Y); ctx.lineTo(M, Y); ctx.stroke();
        ctx.fillText(t[1], M - 6, Y + 4);
      });
      ctx.save(); ctx.translate(10, (c.height - M) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center";
      ctx.fillText("z\u2082", 0, 0); ctx.restore();
    }
    function legend() {
      var el = $("plane-legend"); if (!el) return;
      var seen = [];
      if (labels) labels.forEach(function (l) { if (seen.indexOf(l) < 0) seen.push(l); });
      seen.sort(function (a, b) { return a - b; });
      var html = seen.length ? "Colour: the label of each training sample. " : "Each dot is one training sample's code (no labels). ";
      var names = DATA.class_names;  // what each label means, where the data names them
      seen.forEach(function (l) {
        var name = names && names[l] != null ? names[l] + " (" + l + ")" : String(l);
        html += '<span class="swatch" style="background:' + OKABE[l % 10] + '"></span>' +
          name.replace(/&/g, "&amp;").replace(/</g, "&lt;") + " ";
      });
      if (seen.length > 10) html += "(colours repeat after 10 labels) ";
      html += '<span class="ring"></span> the prior N(0, I) at 1, 2 and 3 standard deviations. ' +
        "Each plane has its own scale: read the ticks.";
      el.innerHTML = html;
    }
    function update() {
      ["ae", "vae"].forEach(function (kind) {
        drawPlane(kind);
        drawImage($("decoded-" + kind), decode(kind, z));
      });
      var r = Math.sqrt(z[0] * z[0] + z[1] * z[1]);
      announce("explorer-readout", "code z = (" + z[0].toFixed(2) + ", " + z[1].toFixed(2) +
        "), " + r.toFixed(2) + " prior standard deviations from the centre. Left: autoencoder's decoding; right: VAE's.");
    }
    function setZ(nz) { z = [nz[0], nz[1]]; update(); }
    ["ae", "vae"].forEach(function (kind) {
      var c = $("plane-" + kind);
      function move(ev) {
        var rect = c.getBoundingClientRect();
        setZ(toZ(frame(kind, c), (ev.clientX - rect.left) * c.width / rect.width, (ev.clientY - rect.top) * c.height / rect.height));
      }
      c.addEventListener("pointermove", move);
      c.addEventListener("pointerdown", function (ev) { move(ev); c.focus(); });
      c.addEventListener("keydown", function (ev) {
        var e = DATA.extent[kind], s = (e[1] - e[0]) / 40;
        var d = { ArrowLeft: [-s, 0], ArrowRight: [s, 0], ArrowUp: [0, s], ArrowDown: [0, -s] }[ev.key];
        if (d) { ev.preventDefault(); setZ([z[0] + d[0], z[1] + d[1]]); }
      });
    });
    $("sample-button").addEventListener("click", function () { setZ([gaussian(), gaussian()]); });
    EXPLORER = { setZ: setZ, getZ: function () { return z.slice(); } };
    legend(); update();
  }

  // ---- interpolation ---------------------------------------------------------------
  function setupInterp() {
    var s = $("interp-slider"); if (!s || !DATA.interp) return;
    var ends = arr(DATA.interp.images);
    drawImage($("interp-a"), ends.data.subarray(0, D)); drawImage($("interp-b"), ends.data.subarray(D, 2 * D));
    function draw() {
      var t = +s.value / 100;
      ["ae", "vae"].forEach(function (kind) {
        var c = DATA.interp.codes[kind], z = [(1 - t) * c[0][0] + t * c[1][0], (1 - t) * c[0][1] + t * c[1][1]];
        drawImage($("interp-" + kind), decode(kind, z));
      });
      announce("interp-readout", "t = " + t.toFixed(2) + ": each model decodes the code " + (100 * t).toFixed(0) +
        "% of the way from the start image's code to the end image's (z = (1 − t)·z_start + t·z_end).");
    }
    s.addEventListener("input", draw); draw();
  }

  // ---- beta sweep: prior samples and the rate–distortion curve, ticked at the measured points
  function setupSweep() {
    var s = $("beta-slider"); if (!s || !DATA.sweep) return;
    var rows = DATA.sweep.rows, samples = arr(DATA.sweep.samples), n = samples.shape[1];
    s.max = rows.length - 1;
    function draw() {
      var i = +s.value, r = rows[i];
      drawGrid($("beta-samples"), samples.data.subarray(i * n * D, (i + 1) * n * D), n, 8);
      var c = $("rd-canvas"), ctx = c.getContext("2d");
      var xs = rows.map(function (q) { return q.rate; }), ys = rows.map(function (q) { return q.distortion; });
      var ylo = Math.min.apply(null, ys), yhi = Math.max.apply(null, ys), pad = 0.08 * (yhi - ylo || Math.abs(yhi) || 1);
      // ticks at the measured values, formatted as in the table: rate 3 digits, distortion 4
      var A = axes(ctx, c.width, c.height, 48, [0, Math.max.apply(null, xs) * 1.08 + 1e-9], [ylo - pad, yhi + pad],
                   "rate = KL (nats)", "distortion (nats)",
                   { xticks: [[0, "0"]].concat(xs.map(function (v) { return [v, g(v, 3)]; })).reverse(),
                     yticks: ys.map(function (v) { return [v, g(v, 4)]; }) });
      ctx.strokeStyle = "#999"; ctx.beginPath();
      rows.forEach(function (q, j) { var X = A.x(q.rate), Y = A.y(q.distortion); if (j) ctx.lineTo(X, Y); else ctx.moveTo(X, Y); });
      ctx.stroke();
      ctx.font = "11px sans-serif"; ctx.textAlign = "left";
      var lastY = -1e9;
      rows.forEach(function (q, j) {
        var X = A.x(q.rate), Y = A.y(q.distortion);
        ctx.fillStyle = j === i ? OKABE[5] : OKABE[4]; ctx.beginPath();
        ctx.arc(X, Y, j === i ? 7 : 4, 0, 2 * Math.PI); ctx.fill();
        if (j === i || Math.abs(Y - lastY) > 13) {  // labels left of points near the right edge
          var right = X > A.x1 - 60;
          ctx.textAlign = right ? "right" : "left"; ctx.fillStyle = "#222";
          ctx.fillText("β = " + q.beta, right ? X - 9 : X + 9, Y - 6); lastY = Y;
        }
      });
      var text = "β = " + r.beta + ": rate " + g(r.rate, 3) + " nats, distortion " + g(r.distortion, 4) +
        " nats, " + r.active_units + " of " + DATA.sweep.latent_dim + " latent units in use.";
      announce("beta-readout", text);
      c.setAttribute("aria-label", "Rate–distortion curve of the β sweep; highlighted: " + text);
      c.dataset.beta = r.beta;
    }
    s.addEventListener("input", draw); draw();
  }

  function setupGrids() {
    document.querySelectorAll("canvas[data-grid]").forEach(function (c) {
      var g2 = arr(DATA.grids[c.dataset.grid]);
      drawGrid(c, g2.data, g2.shape[0], +(c.dataset.cols || 8));
    });
  }

  setupCurse(); setupPCA(); setupExplorer(); setupInterp(); setupSweep(); setupGrids();
  window.vaelab = { decode: decode, explorer: EXPLORER, tile: { w: TILE.w, h: TILE.h, kind: TILE.kind }, ready: true };
})();
