/* vaelab explain: the training lab. An autoencoder and a VAE with 2-D codes, trained in the page:
   dense layers, relu, the reconstruction and KL terms, their gradients and Adam, on Float32Array.
   No network, no dependencies. Reads the JSON in #vaelab-lab; window.vaelabLab is its test hook. */
(function () {
  "use strict";
  var node = document.getElementById("vaelab-lab");
  if (!node) return;
  var CFG = JSON.parse(node.textContent);
  var OKABE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2",
               "#D55E00", "#CC79A7", "#000000", "#999999", "#882255"];
  var LOG2PI = Math.log(2 * Math.PI);
  var N_SHOW = 300, N_DRAWS = 300;

  function bytes(b64) {
    var bin = atob(b64), n = bin.length, out = new Uint8Array(n);
    for (var i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function f32(b64) { return new Float32Array(bytes(b64).buffer); }
  function gunzip(b64) {  // the browser's own gzip (DecompressionStream): no library
    var stream = new Blob([bytes(b64)]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }

  // ---- a seeded generator: mulberry32, normals by Box-Muller ---------------------------
  function Rng(seed) {
    var a = seed >>> 0, spare = null;
    function uniform() {
      a = (a + 0x6D2B79F5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    }
    function normal() {
      if (spare !== null) { var s = spare; spare = null; return s; }
      var u = 1 - uniform(), v = uniform(), r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    }
    return { uniform: uniform, normal: normal };
  }

  // ---- dense layers ----------------------------------------------------------------
  // Weights are kept transposed, WT (in, out) row-major (PyTorch's nn.Linear weight is (out, in)):
  // the loops then run over the inputs and skip zeros, which relu and dark pixels make common.
  function Dense(nin, nout, rng) {
    var k = 1 / Math.sqrt(nin), WT = new Float32Array(nin * nout), b = new Float32Array(nout), i, j;
    for (i = 0; i < nout; i++) for (j = 0; j < nin; j++) WT[j * nout + i] = (2 * rng.uniform() - 1) * k;  // PyTorch's range
    for (i = 0; i < nout; i++) b[i] = (2 * rng.uniform() - 1) * k;
    return { nin: nin, nout: nout, WT: WT, b: b, dWT: new Float32Array(WT.length), db: new Float32Array(nout) };
  }
  function forward(L, X, B, Y, relu) {  // Y (B, out) = X (B, in) W + b, then relu
    var nin = L.nin, nout = L.nout, WT = L.WT, b = L.b, i;
    for (var n = 0; n < B; n++) {
      var xo = n * nin, yo = n * nout;
      for (i = 0; i < nout; i++) Y[yo + i] = b[i];
      for (var j = 0; j < nin; j++) {
        var xv = X[xo + j];
        if (xv === 0) continue;
        var wo = j * nout;
        for (i = 0; i < nout; i++) Y[yo + i] += xv * WT[wo + i];
      }
      if (relu) for (i = 0; i < nout; i++) if (Y[yo + i] < 0) Y[yo + i] = 0;
    }
  }
  // dY (B, out) → dW += Xᵀ dY, db += Σ dY, and dX (B, in) = dY Wᵀ when dX is given.
  // With reluIn, X is a relu's output and dX is left 0 where X is 0 (the relu's own backward).
  function backward(L, X, dY, B, dX, reluIn) {
    var nin = L.nin, nout = L.nout, WT = L.WT, dWT = L.dWT, db = L.db, i;
    for (var n = 0; n < B; n++) {
      var xo = n * nin, yo = n * nout;
      for (i = 0; i < nout; i++) db[i] += dY[yo + i];
      for (var j = 0; j < nin; j++) {
        var xv = X[xo + j], wo = j * nout;
        if (xv !== 0) for (i = 0; i < nout; i++) dWT[wo + i] += xv * dY[yo + i];
        if (!dX) continue;
        if (reluIn && xv <= 0) { dX[xo + j] = 0; continue; }
        var s = 0;
        for (i = 0; i < nout; i++) s += dY[yo + i] * WT[wo + i];
        dX[xo + j] = s;
      }
    }
  }

  // ---- the model: encoder D–H–(2 or 4), decoder 2–H–D, relu -----------------------------
  // VAE: the encoder's 4 outputs are μ (2) and log σ² (2); z = μ + σ·ε.
  // Loss per batch = mean over samples of [−log p(x|z)] + β · mean KL(q(z|x) ‖ N(0, I)).
  function Model(kind, d, hidden, likelihood, seed, maxB) {
    var rng = Rng(seed), zo = kind === "vae" ? 4 : 2;
    var m = {
      kind: kind, d: d, h: hidden, likelihood: likelihood, zo: zo,
      layers: [Dense(d, hidden, rng), Dense(hidden, zo, rng), Dense(2, hidden, rng), Dense(hidden, d, rng)],
      logSigma: new Float32Array(1), dLogSigma: new Float32Array(1), t: 0
    };
    m.buf = {
      h1: new Float32Array(maxB * hidden), o: new Float32Array(maxB * zo), z: new Float32Array(maxB * 2),
      h3: new Float32Array(maxB * hidden), out: new Float32Array(maxB * d),
      dout: new Float32Array(maxB * d), dh3: new Float32Array(maxB * hidden), dz: new Float32Array(maxB * 2),
      do_: new Float32Array(maxB * zo), dh1: new Float32Array(maxB * hidden)
    };
    m.adam = m.layers.map(function (L) {
      return { mW: new Float32Array(L.WT.length), vW: new Float32Array(L.WT.length),
               mb: new Float32Array(L.nout), vb: new Float32Array(L.nout) };
    });
    m.adamS = { m: new Float32Array(1), v: new Float32Array(1) };
    return m;
  }

  // One forward and backward pass on X (B, d) with noise eps (B, 2); grads land in dW/db.
  function lossAndGrads(m, X, B, eps, beta) {
    var L = m.layers, b = m.buf, d = m.d, zo = m.zo, i, n, j;
    L.forEach(function (l) { l.dWT.fill(0); l.db.fill(0); });
    m.dLogSigma[0] = 0;
    forward(L[0], X, B, b.h1, true);
    forward(L[1], b.h1, B, b.o, false);
    var kl = 0;
    for (n = 0; n < B; n++) {
      for (j = 0; j < 2; j++) {
        var mu = b.o[n * zo + j];
        if (m.kind === "vae") {
          var lv = b.o[n * zo + 2 + j];
          b.z[n * 2 + j] = mu + Math.exp(0.5 * lv) * eps[n * 2 + j];
          kl += 0.5 * (mu * mu + Math.exp(lv) - lv - 1);
        } else {
          b.z[n * 2 + j] = mu;
        }
      }
    }
    forward(L[2], b.z, B, b.h3, true);
    forward(L[3], b.h3, B, b.out, false);
    var rec = 0, len = B * d, inv = 1 / B;
    if (m.likelihood === "bernoulli") {  // out = logits; −log p = softplus(l) − x·l
      for (i = 0; i < len; i++) {
        var l = b.out[i], x = X[i], e = Math.exp(-Math.abs(l));
        rec += (l > 0 ? l : 0) - l * x + Math.log1p(e);
        b.dout[i] = ((l >= 0 ? 1 : e) / (1 + e) - x) * inv;
      }
    } else {  // out = mean; −log p = ½(x − m)²/σ² + log σ + ½ log 2π, one learned log σ
      var s = m.logSigma[0], ivar = Math.exp(-2 * s), sq = 0;
      for (i = 0; i < len; i++) {
        var r = b.out[i] - X[i];
        sq += r * r;
        b.dout[i] = r * ivar * inv;
      }
      rec = 0.5 * sq * ivar + len * (s + 0.5 * LOG2PI);
      m.dLogSigma[0] = (len - sq * ivar) * inv;
    }
    backward(L[3], b.h3, b.dout, B, b.dh3, true);
    backward(L[2], b.z, b.dh3, B, b.dz, false);
    for (n = 0; n < B; n++) {
      for (j = 0; j < 2; j++) {
        var g = b.dz[n * 2 + j];
        if (m.kind === "vae") {
          var mu2 = b.o[n * zo + j], lv2 = b.o[n * zo + 2 + j];
          b.do_[n * zo + j] = g + beta * mu2 * inv;
          b.do_[n * zo + 2 + j] = g * eps[n * 2 + j] * 0.5 * Math.exp(0.5 * lv2) + beta * 0.5 * (Math.exp(lv2) - 1) * inv;
        } else {
          b.do_[n * zo + j] = g;
        }
      }
    }
    backward(L[1], b.h1, b.do_, B, b.dh1, true);
    backward(L[0], X, b.dh1, B, null, false);
    rec *= inv; kl *= inv;
    return { loss: rec + beta * kl, reconstruction: rec, kl: m.kind === "vae" ? kl : 0 };
  }

  // Adam as torch.optim.Adam: betas (0.9, 0.999), eps 1e-8, bias-corrected.
  function adamStep(m, lr) {
    var b1 = 0.9, b2 = 0.999, e = 1e-8;
    m.t += 1;
    var c1 = 1 - Math.pow(b1, m.t), c2s = Math.sqrt(1 - Math.pow(b2, m.t)), step = lr / c1;
    function upd(p, g, M, V) {
      for (var i = 0; i < p.length; i++) {
        var gi = g[i];
        M[i] = b1 * M[i] + (1 - b1) * gi;
        V[i] = b2 * V[i] + (1 - b2) * gi * gi;
        p[i] -= step * M[i] / (Math.sqrt(V[i]) / c2s + e);
      }
    }
    m.layers.forEach(function (L, k) {
      var a = m.adam[k];
      upd(L.WT, L.dWT, a.mW, a.vW); upd(L.b, L.db, a.mb, a.vb);
    });
    if (m.likelihood !== "bernoulli") upd(m.logSigma, m.dLogSigma, m.adamS.m, m.adamS.v);
  }

  function encode(m, X, B, out) {  // out (B, 2): the code f(x), or the mean μ(x) of q(z|x)
    var b = m.buf, zo = m.zo;
    forward(m.layers[0], X, B, b.h1, true);
    forward(m.layers[1], b.h1, B, b.o, false);
    for (var n = 0; n < B; n++) { out[2 * n] = b.o[n * zo]; out[2 * n + 1] = b.o[n * zo + 1]; }
    return out;
  }
  function logVar(m, n) { return [m.buf.o[n * m.zo + 2], m.buf.o[n * m.zo + 3]]; }
  function decodeMean(m, Z, B, out) {  // out (B, d): sigmoid(logits), or the Gaussian mean
    var b = m.buf;
    forward(m.layers[2], Z, B, b.h3, true);
    forward(m.layers[3], b.h3, B, out, false);
    if (m.likelihood === "bernoulli") for (var i = 0; i < B * m.d; i++) out[i] = 1 / (1 + Math.exp(-out[i]));
    return out;
  }

  // ---- the lab's state --------------------------------------------------------------
  var D = CFG.d, N = CFG.n, BATCH = CFG.batch, HID = CFG.hidden, LIK = CFG.likelihood;
  var IMG = CFG.image_shape, MEAN = f32(CFG.mean), STD = f32(CFG.std);
  var LABELS = CFG.labels ? bytes(CFG.labels) : null;
  var XS = null;  // (N, D) float32, once unpacked
  var MAXB = Math.max(BATCH, N_SHOW, 8);
  var S = { ae: null, vae: null, step: 0, beta: 1, klOn: true, lr: Math.pow(10, -2.5),
            rng: null, order: null, pos: 0, hist: [], playing: false, target: 0, preset: null,
            playedAt: 0, movedMs: null };
  var XB = new Float32Array(BATCH * D), EPS = new Float32Array(BATCH * 2), ZERO = new Float32Array(BATCH * 2);
  var DRAWS = (function () {  // fixed prior draws: 8 decoded, N_DRAWS for the gaps measure
    var r = Rng(7), z = new Float32Array(N_DRAWS * 2);
    for (var i = 0; i < z.length; i++) z[i] = r.normal();
    return z;
  })();
  var SHOW_EPS = (function () {
    var r = Rng(11), e = new Float32Array(N_SHOW * 2);
    for (var i = 0; i < e.length; i++) e[i] = r.normal();
    return e;
  })();

  function reset() {
    S.ae = Model("ae", D, HID, LIK, 1, MAXB);
    S.vae = Model("vae", D, HID, LIK, 1, MAXB);
    S.ae.logSigma[0] = S.vae.logSigma[0] = CFG.log_sigma0;
    S.rng = Rng(2); S.step = 0; S.hist = []; S.order = null; S.pos = 0;
  }
  function nextBatch() {
    if (!S.order || S.pos + BATCH > N) {  // a fresh permutation each pass
      S.order = new Uint32Array(N);
      for (var i = 0; i < N; i++) S.order[i] = i;
      for (i = N - 1; i > 0; i--) { var j = Math.floor(S.rng.uniform() * (i + 1)), t = S.order[i]; S.order[i] = S.order[j]; S.order[j] = t; }
      S.pos = 0;
    }
    var B = Math.min(BATCH, N);
    for (var n = 0; n < B; n++) XB.set(XS.subarray(S.order[S.pos + n] * D, S.order[S.pos + n] * D + D), n * D);
    S.pos += B;
    for (var k = 0; k < 2 * B; k++) EPS[k] = S.rng.normal();
    return B;
  }
  function effBeta() { return S.klOn ? S.beta : 0; }
  function trainStep() {
    var B = nextBatch();
    var ra = lossAndGrads(S.ae, XB, B, ZERO, 0); adamStep(S.ae, S.lr);
    var rv = lossAndGrads(S.vae, XB, B, EPS, effBeta()); adamStep(S.vae, S.lr);
    S.step += 1;
    S.hist.push([ra.reconstruction, rv.reconstruction, rv.kl]);
    return { ae: ra, vae: rv };
  }

  // ---- measures: codes, gaps, output spread -------------------------------------------
  function codesOf(m, draw) {  // (N_SHOW, 2): μ(x), or one draw z ~ q(z|x) each
    var n = Math.min(N_SHOW, N), z = encode(m, XS.subarray(0, n * D), n, new Float32Array(n * 2));
    if (draw && m.kind === "vae") {
      for (var i = 0; i < n; i++) {
        var lv = logVar(m, i);
        z[2 * i] += Math.exp(0.5 * lv[0]) * SHOW_EPS[2 * i];
        z[2 * i + 1] += Math.exp(0.5 * lv[1]) * SHOW_EPS[2 * i + 1];
      }
    }
    return z;
  }
  function median(a) { var s = Array.from(a).sort(function (p, q) { return p - q; }); return s[s.length >> 1]; }
  // share of prior draws farther from every code than the codes' median nearest-other-code distance
  function gapShare(z) {
    var n = z.length / 2, own = new Float64Array(n), i, j;
    for (i = 0; i < n; i++) {
      var best = Infinity;
      for (j = 0; j < n; j++) {
        if (i === j) continue;
        var dx = z[2 * i] - z[2 * j], dy = z[2 * i + 1] - z[2 * j + 1], q = dx * dx + dy * dy;
        if (q < best) best = q;
      }
      own[i] = best;
    }
    var thr = median(own), far = 0;
    for (i = 0; i < N_DRAWS; i++) {
      var near = Infinity;
      for (j = 0; j < n; j++) {
        var ex = DRAWS[2 * i] - z[2 * j], ey = DRAWS[2 * i + 1] - z[2 * j + 1], r = ex * ex + ey * ey;
        if (r < near) near = r;
      }
      if (near > thr) far += 1;
    }
    return far / N_DRAWS;
  }
  function spread(z) {  // root mean per-dimension variance of the codes
    var n = z.length / 2, s = 0;
    for (var k = 0; k < 2; k++) {
      var mu = 0, v = 0, i;
      for (i = 0; i < n; i++) mu += z[2 * i + k];
      mu /= n;
      for (i = 0; i < n; i++) v += (z[2 * i + k] - mu) * (z[2 * i + k] - mu);
      s += v / n;
    }
    return Math.sqrt(s / 2);
  }
  // mean per-feature standard deviation of the decoded codes across inputs, over the data's own
  function outputSpread(m, mu) {
    var n = mu.length / 2, out = decodeMean(m, mu, n, new Float32Array(n * D)), tot = 0, ref = 0;
    for (var j = 0; j < D; j++) {
      var a = 0, v = 0, i;
      for (i = 0; i < n; i++) a += out[i * D + j];
      a /= n;
      for (i = 0; i < n; i++) v += (out[i * D + j] - a) * (out[i * D + j] - a);
      tot += Math.sqrt(v / n); ref += STD[j];
    }
    return tot / (ref || 1);
  }
  function stats() {
    var out = { step: S.step, last: S.hist.length ? S.hist[S.hist.length - 1] : null };
    ["ae", "vae"].forEach(function (k) {
      var mu = codesOf(S[k], false), z = codesOf(S[k], true);
      out[k] = { codeSpread: spread(mu), gaps: gapShare(z), outputSpread: outputSpread(S[k], mu) };
    });
    return out;
  }

  // ---- drawing ------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  var C = IMG[0], IH = IMG[1], IW = IMG[2];
  var TILE = CFG.table ? { w: Math.ceil(Math.sqrt(D)), h: Math.ceil(D / Math.ceil(Math.sqrt(D))) } : { w: IW, h: IH };
  var LO = CFG.range[0], HI = CFG.range[1];
  function tile(px) {  // one sample as ImageData: grey ink, RGB, or a table's z-scores as a heat map
    var im = new ImageData(TILE.w, TILE.h), d = im.data, j, c, v;
    for (j = 0; j < d.length; j += 4) { d[j] = d[j + 1] = d[j + 2] = 255; d[j + 3] = 255; }
    if (CFG.table) {
      for (j = 0; j < D; j++) {
        var t = Math.max(-1, Math.min(1, (px[j] - MEAN[j]) / (3 * (STD[j] || 1)))), col = t >= 0 ? [0, 114, 178] : [213, 94, 0];
        for (c = 0; c < 3; c++) d[4 * j + c] = Math.round(255 + Math.abs(t) * (col[c] - 255));
      }
      return im;
    }
    var rgb = C === 3 || C === 4;
    for (j = 0; j < IH * IW; j++) {
      for (c = 0; c < 3; c++) {
        v = (px[(rgb ? c : 0) * IH * IW + j] - LO) / (HI - LO || 1);
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        d[4 * j + c] = Math.round(255 * (rgb ? v : 1 - v));
      }
    }
    return im;
  }
  function drawGrid(canvas, flat, n, cols) {  // n tiles in rows of cols, 2-pixel gaps
    var rows = Math.ceil(n / cols), ctx = canvas.getContext("2d");
    var s = Math.max(1, Math.floor(Math.min((canvas.width - 2 * (cols - 1)) / (cols * TILE.w), (canvas.height - 2 * (rows - 1)) / (rows * TILE.h))));
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    var tmp = document.createElement("canvas"); tmp.width = TILE.w; tmp.height = TILE.h;
    ctx.imageSmoothingEnabled = false;
    for (var i = 0; i < n; i++) {
      tmp.getContext("2d").putImageData(tile(flat.subarray(i * D, (i + 1) * D)), 0, 0);
      ctx.drawImage(tmp, (i % cols) * (TILE.w * s + 2), Math.floor(i / cols) * (TILE.h * s + 2), TILE.w * s, TILE.h * s);
    }
  }
  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2); }
  function drawPlane(canvas, mu) {
    var ctx = canvas.getContext("2d"), W = canvas.width, Hh = canvas.height, n = mu.length / 2, i;
    var ext = 3;
    for (i = 0; i < mu.length; i++) if (isFinite(mu[i]) && Math.abs(mu[i]) > ext) ext = Math.abs(mu[i]);
    ext *= 1.05;
    var sc = (W - 20) / (2 * ext), cx = W / 2, cy = Hh / 2;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, Hh);
    ctx.strokeStyle = "#ddd"; ctx.beginPath(); ctx.moveTo(10, cy); ctx.lineTo(W - 10, cy); ctx.moveTo(cx, 10); ctx.lineTo(cx, Hh - 10); ctx.stroke();
    ctx.setLineDash([4, 3]); ctx.strokeStyle = "#888"; ctx.beginPath(); ctx.arc(cx, cy, 2 * sc, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]);
    for (i = 0; i < n; i++) {
      ctx.fillStyle = LABELS ? OKABE[LABELS[i] % 10] : OKABE[4];
      ctx.fillRect(cx + mu[2 * i] * sc - 1.5, cy - mu[2 * i + 1] * sc - 1.5, 3, 3);
    }
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.textAlign = "right";
    ctx.fillText("z₁ = " + fmt(ext), W - 4, cy - 4); ctx.textAlign = "left";
    ctx.fillText("z₂ = " + fmt(ext), cx + 4, 12);
    ctx.fillText("dashed: radius 2 of N(0, I)", 4, Hh - 4);
    canvas.dataset.extent = ext.toFixed(3);
  }
  function drawCurves(canvas, series, colors, label) {
    var ctx = canvas.getContext("2d"), W = canvas.width, Hh = canvas.height, L = 46, R = 8, T = 8, Bm = 26;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, Hh);
    var n = series[0].length, lo = Infinity, hi = -Infinity;
    series.forEach(function (s) { s.forEach(function (v) { if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (!n || !isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
    ctx.strokeStyle = "#999"; ctx.strokeRect(L, T, W - L - R, Hh - T - Bm);
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.textAlign = "right";
    ctx.fillText(fmt(hi), L - 4, T + 9); ctx.fillText(fmt(lo), L - 4, Hh - Bm);
    ctx.textAlign = "center"; ctx.fillText("step (" + n + " so far)", (L + W - R) / 2, Hh - 8);
    ctx.save(); ctx.translate(11, (T + Hh - Bm) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(label, 0, 0); ctx.restore();
    series.forEach(function (s, k) {
      ctx.strokeStyle = colors[k]; ctx.lineWidth = 1.5; ctx.beginPath();
      var every = Math.max(1, Math.floor(n / 300));
      for (var i = 0; i < n; i += every) {
        var X = L + (n > 1 ? i / (n - 1) : 0) * (W - L - R), Y = T + (hi - s[i]) / (hi - lo) * (Hh - T - Bm);
        if (i) ctx.lineTo(X, Y); else ctx.moveTo(X, Y);
      }
      ctx.stroke();
    });
  }
  var lastStats = null;
  function render() {
    var st = stats(); lastStats = st;
    if (S.playing && S.movedMs === null) S.movedMs = performance.now() - S.playedAt;  // play → first redraw
    ["ae", "vae"].forEach(function (k) {
      var m = S[k];
      drawPlane($("lab-plane-" + k), codesOf(m, false));
      drawGrid($("lab-draws-" + k), decodeMean(m, DRAWS.subarray(0, 16), 8, new Float32Array(8 * D)), 8, 4);
    });
    var h = S.hist;
    drawCurves($("lab-recon"), [h.map(function (r) { return r[0]; }), h.map(function (r) { return r[1]; })], [OKABE[5], OKABE[4]], "nats");
    drawCurves($("lab-klplot"), [h.map(function (r) { return r[2]; })], [OKABE[4]], "nats");
    var last = st.last, text = "Step " + st.step + (S.preset ? " (preset: " + S.preset + ")" : "") + ". ";
    if (last) text += "Reconstruction: AE " + fmt(last[0]) + ", VAE " + fmt(last[1]) + " nats; VAE KL " + fmt(last[2]) + " nats. ";
    text += "Gaps: AE " + Math.round(100 * st.ae.gaps) + "%, VAE " + Math.round(100 * st.vae.gaps) + "% of prior draws. " +
      "Spread of the VAE's decodings across inputs: " + Math.round(100 * st.vae.outputSpread) + "% of the data's.";
    $("lab-readout").textContent = text;
    $("lab-readout").setAttribute("aria-live", S.playing ? "off" : "polite");  // read out when training stops
  }

  // ---- the loop and the controls ----------------------------------------------------
  var PRESETS = {
    recon: { name: "reconstruction only", beta: 0, kl: false, lr: -2.5, steps: CFG.preset_steps },
    kl: { name: "KL only", beta: 100, kl: true, lr: -2.5, steps: CFG.preset_steps },
    balanced: { name: "balanced", beta: 1, kl: true, lr: -2.5, steps: CFG.preset_steps }
  };
  var lastDraw = 0;
  function setPlaying(on) {
    S.playing = on; $("lab-play").disabled = on; $("lab-pause").disabled = !on;
    if (!on) S.target = 0;
    if (on) { S.playedAt = performance.now(); S.movedMs = null; }
    if (on) requestAnimationFrame(loop);
  }
  function loop(now) {
    if (!S.playing) return;
    var t0 = performance.now();
    do {
      trainStep();
      if (S.target && S.step >= S.target) { setPlaying(false); break; }
    } while (performance.now() - t0 < 30);
    if (!S.playing || now - lastDraw > 200) { render(); lastDraw = now; }
    if (S.playing) requestAnimationFrame(loop);
  }
  function readControls() {
    S.beta = CFG.betas[+$("lab-beta").value];
    $("lab-beta-out").textContent = String(S.beta);
    S.lr = Math.pow(10, +$("lab-lr").value);
    $("lab-lr-out").textContent = S.lr.toPrecision(2);
    S.klOn = $("lab-kl").checked;
  }
  function preset(key) {
    var p = PRESETS[key];
    $("lab-beta").value = String(CFG.betas.indexOf(p.beta));
    $("lab-kl").checked = p.kl; $("lab-lr").value = String(p.lr);
    readControls(); reset(); S.preset = p.name; S.target = p.steps;
    render(); setPlaying(true); S.target = p.steps;
  }
  function wire() {
    // the pressed button is disabled: keyboard focus moves to the other one, not to the page
    $("lab-play").addEventListener("click", function () { S.preset = null; setPlaying(true); $("lab-pause").focus(); });
    $("lab-pause").addEventListener("click", function () { setPlaying(false); render(); $("lab-play").focus(); });
    $("lab-step").addEventListener("click", function () { trainStep(); render(); });
    $("lab-reset").addEventListener("click", function () { setPlaying(false); reset(); S.preset = null; render(); });
    ["lab-beta", "lab-lr", "lab-kl"].forEach(function (id) {
      $(id).addEventListener("input", readControls); $(id).addEventListener("change", readControls);
    });
    document.querySelectorAll(".lab-preset").forEach(function (b) {
      b.addEventListener("click", function () { preset(b.dataset.preset); });
    });
  }

  // ---- the test hook: explicit weights, batch and noise, as PyTorch sees them ----------
  function fromSpec(spec) {
    var B = spec.batch, m = Model(spec.kind, spec.d, spec.hidden, spec.likelihood, 0, B);
    m.layers.forEach(function (L, k) { L.WT.set(transpose(spec.weights[2 * k], L.nout, L.nin)); L.b.set(spec.weights[2 * k + 1]); });
    if (spec.logSigma !== undefined) m.logSigma[0] = spec.logSigma;
    return m;
  }
  function transpose(a, rows, cols) {  // (rows, cols) row-major → (cols, rows)
    var t = new Array(a.length);
    for (var r = 0; r < rows; r++) for (var c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
    return t;
  }
  // as PyTorch lays them out: W (out, in) flat, then b, per layer
  function grads(m) {
    var g = [];
    m.layers.forEach(function (L) { g.push(transpose(L.dWT, L.nin, L.nout), Array.from(L.db)); });
    return g;
  }
  function weights(m) {
    var w = [];
    m.layers.forEach(function (L) { w.push(transpose(L.WT, L.nin, L.nout), Array.from(L.b)); });
    return w;
  }
  var HOOK = {
    ready: false,
    // spec: {kind, d, hidden, likelihood, batch, beta, weights: [W1, b1, …, b4] flat, logSigma, x (B·d), eps (B·2)}
    lossAndGrads: function (spec) {
      var m = fromSpec(spec);
      var r = lossAndGrads(m, Float32Array.from(spec.x), spec.batch, Float32Array.from(spec.eps || []), spec.beta);
      r.grads = grads(m); r.dLogSigma = m.dLogSigma[0];
      return r;
    },
    // spec as above plus x (n·d) the samples, batches [[index, …], …], eps per step (B·2 each), lr
    train: function (spec) {
      var m = fromSpec(spec), B = spec.batch, X = Float32Array.from(spec.x), xb = new Float32Array(B * spec.d), losses = [];
      spec.batches.forEach(function (idx, k) {
        idx.forEach(function (i, n) { xb.set(X.subarray(i * spec.d, (i + 1) * spec.d), n * spec.d); });
        losses.push(lossAndGrads(m, xb, B, Float32Array.from(spec.eps[k]), spec.beta).loss);
        adamStep(m, spec.lr);
      });
      return { losses: losses, weights: weights(m), logSigma: m.logSigma[0] };
    },
    data: function (n) { return Array.from(XS.subarray(0, (n || N) * D)); },
    config: function () { return { n: N, d: D, hidden: HID, likelihood: LIK, batch: BATCH }; },
    stats: stats,
    steps: function (k) { for (var i = 0; i < k; i++) trainStep(); render(); return stats(); },
    preset: function (key, run) {  // run: train its steps now, synchronously
      if (!run) return preset(key);
      var p = PRESETS[key];
      $("lab-beta").value = String(CFG.betas.indexOf(p.beta)); $("lab-kl").checked = p.kl; $("lab-lr").value = String(p.lr);
      readControls(); reset(); S.preset = p.name;
      for (var i = 0; i < p.steps; i++) trainStep();
      render(); return stats();
    },
    // steps per second of the lab (both models) at batch BATCH, over `ms` milliseconds
    speed: function (ms) {
      var t0 = performance.now(), k = 0;
      while (performance.now() - t0 < ms) { trainStep(); k++; }
      return k / ((performance.now() - t0) / 1000);
    },
    reset: function () { setPlaying(false); reset(); S.preset = null; render(); return stats(); },
    history: function () { return S.hist; },  // per step: [AE reconstruction, VAE reconstruction, VAE KL]
    state: function () {
      return { step: S.step, playing: S.playing, beta: S.beta, klOn: S.klOn, lr: S.lr, movedMs: S.movedMs };
    },
    lastStats: function () { return lastStats; }
  };
  window.vaelabLab = HOOK;

  gunzip(CFG.x_gz).then(function (q) {
    var lo = f32(CFG.lo), sc = f32(CFG.scale);
    XS = new Float32Array(N * D);
    for (var i = 0; i < N; i++) for (var j = 0; j < D; j++) XS[i * D + j] = lo[j] + q[i * D + j] * sc[j];
    readControls(); reset(); wire(); render();
    HOOK.ready = true;
  }).catch(function (e) {
    $("lab-readout").textContent = "The lab could not unpack its data in this browser (" + e + ").";
    throw e;
  });
})();
