/* vaelab explain: in-page decoders and interactive figures. No network, no dependencies
   except the inlined KaTeX. Everything reads the JSON in #vaelab-data. */
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
  var IMG = DATA.image_shape, LO = DATA.range[0], HI = DATA.range[1];
  function drawImage(canvas, px, ox, oy, scale) {
    var c = IMG[0], H = IMG[1], W = IMG[2], ctx = canvas.getContext("2d");
    scale = scale || Math.floor(Math.min(canvas.width / W, canvas.height / H));
    ox = ox || 0; oy = oy || 0;
    var im = ctx.createImageData(W, H);
    for (var y = 0; y < H; y++) for (var x = 0; x < W; x++) {
      var p = y * W + x, q = 4 * p;
      for (var ch = 0; ch < 3; ch++) {
        var v = px[(c === 3 ? ch : 0) * H * W + p];
        v = (v - LO) / (HI - LO || 1);
        v = Math.max(0, Math.min(1, v));
        im.data[q + ch] = Math.round(255 * (1 - v));
      }
      im.data[q + 3] = 255;
    }
    var tmp = document.createElement("canvas"); tmp.width = W; tmp.height = H;
    tmp.getContext("2d").putImageData(im, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tmp, ox, oy, W * scale, H * scale);
  }
  function drawGrid(canvas, flat, n, cols) {
    var D = IMG[0] * IMG[1] * IMG[2], rows = Math.ceil(n / cols);
    var bw = cols * (IMG[2] + 1), bh = rows * (IMG[1] + 1);  // the grid at one pixel per pixel
    var s = Math.floor(Math.min(canvas.width / bw, canvas.height / bh));
    if (s < 1) {  // more tiles than the canvas holds at 1:1: draw them 1:1, let CSS shrink the canvas
      var f = Math.min(canvas.width / bw, canvas.height / bh);
      canvas.style.width = Math.round(bw * f) + "px"; canvas.style.height = Math.round(bh * f) + "px";
      canvas.width = bw; canvas.height = bh; s = 1;
    }
    var ctx = canvas.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (var i = 0; i < n; i++) {
      drawImage(canvas, flat.subarray ? flat.subarray(i * D, (i + 1) * D) : flat.slice(i * D, (i + 1) * D),
                (i % cols) * (IMG[2] + 1) * s, Math.floor(i / cols) * (IMG[1] + 1) * s, s);
    }
  }
  function axes(ctx, w, h, m, xr, yr, xlabel, ylabel, logx) {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(m, m / 2); ctx.lineTo(m, h - m); ctx.lineTo(w - m / 2, h - m); ctx.stroke();
    ctx.fillStyle = "#222"; ctx.font = "12px sans-serif"; ctx.textAlign = "center";
    ctx.fillText(xlabel, w / 2, h - 6);
    ctx.save(); ctx.translate(12, h / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(ylabel, 0, 0); ctx.restore();
    var fx = function (v) {
      var a = logx ? Math.log10(v) : v, lo = logx ? Math.log10(xr[0]) : xr[0], hi = logx ? Math.log10(xr[1]) : xr[1];
      return m + (a - lo) / (hi - lo || 1) * (w - 1.5 * m);
    };
    var fy = function (v) { return h - m - (v - yr[0]) / (yr[1] - yr[0] || 1) * (h - 1.5 * m); };
    ctx.textAlign = "right"; ctx.fillText(fmt(yr[1]), m - 3, m / 2 + 10); ctx.fillText(fmt(yr[0]), m - 3, h - m);
    ctx.textAlign = "left"; ctx.fillText(fmt(xr[0]), m, h - m + 14);
    ctx.textAlign = "right"; ctx.fillText(fmt(xr[1]), w - m / 2, h - m + 14);
    return { x: fx, y: fy };
  }
  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toPrecision(3) : v.toPrecision(2); }
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

  // ---- PCA explained-variance curve -------------------------------------------------
  function setupPCA() {
    var c = $("pca-canvas"); if (!c || !DATA.pca_cumulative) return;
    var v = DATA.pca_cumulative, ctx = c.getContext("2d");
    var A = axes(ctx, c.width, c.height, 40, [1, v.length], [0, 1], "number of components k", "share of variance kept");
    ctx.strokeStyle = OKABE[4]; ctx.lineWidth = 2; ctx.beginPath();
    v.forEach(function (y, i) { var X = A.x(i + 1), Y = A.y(y); if (i) ctx.lineTo(X, Y); else ctx.moveTo(X, Y); });
    ctx.stroke();
  }

  // ---- latent explorer --------------------------------------------------------------
  var EXPLORER = null;
  function setupExplorer() {
    var codes = { ae: arr(DATA.codes.ae), vae: arr(DATA.codes.vae) };
    var labels = DATA.code_labels;
    var ext = DATA.extent; // [xmin, xmax, ymin, ymax]
    var z = [0, 0];
    function toPix(c, zx, zy) {
      return [(zx - ext[0]) / (ext[1] - ext[0]) * c.width, (ext[3] - zy) / (ext[3] - ext[2]) * c.height];
    }
    function toZ(c, px, py) {
      return [ext[0] + px / c.width * (ext[1] - ext[0]), ext[3] - py / c.height * (ext[3] - ext[2])];
    }
    function drawPlane(kind) {
      var c = $("plane-" + kind), ctx = c.getContext("2d"), k = codes[kind];
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
      // prior: circles at 1, 2, 3 standard deviations
      ctx.strokeStyle = "#bbb"; ctx.setLineDash([4, 4]);
      for (var r = 1; r <= 3; r++) {
        var o = toPix(c, 0, 0), rx = toPix(c, r, 0)[0] - o[0];
        ctx.beginPath(); ctx.arc(o[0], o[1], Math.abs(rx), 0, 2 * Math.PI); ctx.stroke();
      }
      ctx.setLineDash([]);
      for (var i = 0; i < k.shape[0]; i++) {
        var p = toPix(c, k.data[2 * i], k.data[2 * i + 1]);
        ctx.fillStyle = labels ? OKABE[labels[i] % 10] : OKABE[4];
        ctx.fillRect(p[0] - 1.5, p[1] - 1.5, 3, 3);
      }
      var m = toPix(c, z[0], z[1]);
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath();
      ctx.arc(m[0], m[1], 7, 0, 2 * Math.PI); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(m[0] - 11, m[1]); ctx.lineTo(m[0] + 11, m[1]);
      ctx.moveTo(m[0], m[1] - 11); ctx.lineTo(m[0], m[1] + 11); ctx.stroke(); ctx.lineWidth = 1;
    }
    function update() {
      ["ae", "vae"].forEach(function (kind) {
        drawPlane(kind);
        var out = $("decoded-" + kind);
        out.getContext("2d").clearRect(0, 0, out.width, out.height);
        drawImage(out, decode(kind, z));
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
        setZ(toZ(c, (ev.clientX - rect.left) * c.width / rect.width, (ev.clientY - rect.top) * c.height / rect.height));
      }
      c.addEventListener("pointermove", move);
      c.addEventListener("pointerdown", function (ev) { move(ev); c.focus(); });
      c.addEventListener("keydown", function (ev) {
        var s = 0.1 * (ext[1] - ext[0]) / 8, d = { ArrowLeft: [-s, 0], ArrowRight: [s, 0], ArrowUp: [0, s], ArrowDown: [0, -s] }[ev.key];
        if (d) { ev.preventDefault(); setZ([z[0] + d[0], z[1] + d[1]]); }
      });
    });
    $("sample-button").addEventListener("click", function () { setZ([gaussian(), gaussian()]); });
    EXPLORER = { setZ: setZ, getZ: function () { return z.slice(); } };
    update();
  }

  // ---- interpolation ---------------------------------------------------------------
  function setupInterp() {
    var s = $("interp-slider"); if (!s || !DATA.interp) return;
    var ends = arr(DATA.interp.images), D = ends.data.length / 2;
    drawImage($("interp-a"), ends.data.subarray(0, D)); drawImage($("interp-b"), ends.data.subarray(D));
    function draw() {
      var t = +s.value / 100;
      ["ae", "vae"].forEach(function (kind) {
        var c = DATA.interp.codes[kind], z = [(1 - t) * c[0][0] + t * c[1][0], (1 - t) * c[0][1] + t * c[1][1]];
        drawImage($("interp-" + kind), decode(kind, z));
      });
      announce("interp-readout", "t = " + t.toFixed(2) + ": decoding the code " + (100 * (1 - t)).toFixed(0) +
        "% of the way from the right image's code to the left image's (autoencoder left, VAE right).");
    }
    s.addEventListener("input", draw); draw();
  }

  // ---- beta sweep ------------------------------------------------------------------
  function setupSweep() {
    var s = $("beta-slider"); if (!s || !DATA.sweep) return;
    var rows = DATA.sweep.rows, samples = arr(DATA.sweep.samples);
    var D = IMG[0] * IMG[1] * IMG[2], n = samples.shape[1];
    s.max = rows.length - 1;
    function draw() {
      var i = +s.value, r = rows[i];
      drawGrid($("beta-samples"), samples.data.subarray(i * n * D, (i + 1) * n * D), n, 8);
      var c = $("rd-canvas"), ctx = c.getContext("2d");
      var xs = rows.map(function (q) { return q.rate; }), ys = rows.map(function (q) { return q.distortion; });
      var A = axes(ctx, c.width, c.height, 44, [0, Math.max.apply(null, xs) * 1.05 + 1e-9],
                   [Math.min.apply(null, ys) * 0.98, Math.max.apply(null, ys) * 1.02], "rate = KL (nats)", "distortion (nats)");
      ctx.strokeStyle = "#999"; ctx.beginPath();
      rows.forEach(function (q, j) { var X = A.x(q.rate), Y = A.y(q.distortion); if (j) ctx.lineTo(X, Y); else ctx.moveTo(X, Y); });
      ctx.stroke();
      rows.forEach(function (q, j) {
        ctx.fillStyle = j === i ? OKABE[5] : OKABE[4]; ctx.beginPath();
        ctx.arc(A.x(q.rate), A.y(q.distortion), j === i ? 7 : 4, 0, 2 * Math.PI); ctx.fill();
      });
      var text = "β = " + r.beta + ": rate " + r.rate.toFixed(2) + " nats, distortion " + r.distortion.toFixed(2) +
        " nats, " + r.active_units + " of " + DATA.sweep.latent_dim + " latent units in use.";
      announce("beta-readout", text);
      c.setAttribute("aria-label", "Rate–distortion curve of the β sweep; highlighted: " + text);
      c.dataset.beta = r.beta;
    }
    s.addEventListener("input", draw); draw();
  }

  function setupGrids() {
    document.querySelectorAll("canvas[data-grid]").forEach(function (c) {
      var g = arr(DATA.grids[c.dataset.grid]);
      drawGrid(c, g.data, g.shape[0], +(c.dataset.cols || 8));
    });
  }

  function renderMath() {
    if (!window.katex) return;
    document.querySelectorAll(".math").forEach(function (el) {
      try { window.katex.render(el.textContent, el, { displayMode: el.tagName === "DIV", throwOnError: false }); }
      catch (e) { /* leave the TeX source visible */ }
    });
  }

  renderMath(); setupCurse(); setupPCA(); setupExplorer(); setupInterp(); setupSweep(); setupGrids();
  window.vaelab = { decode: decode, explorer: EXPLORER, ready: true };
})();
